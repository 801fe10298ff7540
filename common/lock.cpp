// The hub lock; see lock.h. OFD locks rather than flock: the same semantics (owned by the
// open file, released on last close) plus F_OFD_GETLK, which lets hubctl ask whether a hub
// is running without taking the lock itself.
#include "common/lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fstream>
#include <system_error>

namespace reporthub {

namespace {

struct flock wholeFile(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return fl;
}

std::string isoNow() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

ExclusiveLock::~ExclusiveLock() {
  release();
}

void ExclusiveLock::release() {
  if (fd_ >= 0) {
    close(fd_);  // closing the only descriptor of the open file drops the OFD lock
    fd_ = -1;
  }
}

std::optional<ExclusiveLock> ExclusiveLock::acquire(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  struct flock fl = wholeFile(F_WRLCK);
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    const int e = errno;
    close(fd);
    if (e == EAGAIN || e == EACCES) return std::nullopt;
    throw std::system_error(e, std::generic_category(), "fcntl(F_OFD_SETLK) " + path.string());
  }
  const std::string content = std::to_string(getpid()) + " " + isoNow() + "\n";
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size())) {
    const int e = errno;
    close(fd);
    throw std::system_error(e, std::generic_category(), "write " + path.string());
  }
  ExclusiveLock lock;
  lock.fd_ = fd;
  lock.path_ = path;
  return lock;
}

std::optional<LockHolder> ExclusiveLock::holder(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock fl = wholeFile(F_WRLCK);
  const bool queried = fcntl(fd, F_OFD_GETLK, &fl) == 0;
  close(fd);
  if (!queried || fl.l_type == F_UNLCK) return std::nullopt;
  LockHolder h;
  std::ifstream in(path);
  in >> h.pid >> h.started;
  return h;
}

std::string lockNotHeldBy(const std::filesystem::path& path, pid_t pid) {
  const auto holder = ExclusiveLock::holder(path);
  if (!holder) return path.string() + " is not held by any process";
  if (holder->pid != pid) {
    return path.string() + " is held by pid " + std::to_string(holder->pid) +
           ", not by this process's hub (pid " + std::to_string(pid) + ")";
  }
  return {};
}

}  // namespace reporthub
