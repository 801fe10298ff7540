// Whole reads and writes; see file_io.h.
#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace reporthub {

std::size_t writeAll(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    off += static_cast<std::size_t>(n);
  }
  return off;
}

bool readFrom(int fd, off_t offset, std::string& out) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
}

std::string readFileFrom(const std::filesystem::path& path, off_t offset) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  std::string data;
  const bool ok = readFrom(fd, offset, data);
  const int err = errno;
  close(fd);
  if (!ok) throw std::system_error(err, std::generic_category(), "read " + path.string());
  return data;
}

}  // namespace reporthub
