// The persistent record of finished work; see delivered_ids.h.
#include "outputs/delivered_ids.h"

#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace reporthub::outputs {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

bool syncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

}  // namespace

DeliveredIds::DeliveredIds(std::filesystem::path file, std::size_t capacity)
    : file_(std::move(file)), capacity_(capacity), ids_(capacity) {
  open();
  load();
}

DeliveredIds::~DeliveredIds() {
  if (fd_ >= 0) close(fd_);
}

void DeliveredIds::open() {
  // O_APPEND: every batch lands at the end even after a failed one was cut back.
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) fail("open " + file_.string());
}

void DeliveredIds::load() {
  std::string data;
  if (!readFrom(fd_, 0, data)) fail("read " + file_.string());
  std::size_t end = data.rfind('\n');
  end = end == std::string::npos ? 0 : end + 1;
  if (end < data.size()) {
    // A crash in the middle of an append: that batch was never committed, so its work is
    // redone (and its keys written again) when the hub redelivers it.
    spdlog::warn(
        "{}: {} bytes of an interrupted append cut off (that batch was not "
        "committed; it is redone on redelivery)",
        file_.string(), data.size() - end);
    if (ftruncate(fd_, static_cast<off_t>(end)) != 0) fail("ftruncate " + file_.string());
  }
  for (std::size_t pos = 0; pos < end;) {
    const std::size_t nl = data.find('\n', pos);
    if (nl > pos) {
      ids_.add(std::string_view(data).substr(pos, nl - pos));
      ++lines_;
    }
    pos = nl + 1;
  }
  ids_.commit();
  size_ = static_cast<off_t>(end);
  loaded_ = ids_.size();
}

void DeliveredIds::add(std::string_view key) {
  if (key.empty() || key.size() > kMaxKey || key.find('\n') != std::string_view::npos) {
    throw std::invalid_argument("delivered-ids key must be 1.." + std::to_string(kMaxKey) +
                                " bytes without a newline");
  }
  if (ids_.contains(key)) return;
  ids_.add(key);
  batch_.append(key);
  batch_.push_back('\n');
}

bool DeliveredIds::commit(std::string& error) {
  if (batch_.empty()) {
    ids_.commit();
    return true;
  }
  const std::size_t written = writeAll(fd_, batch_);
  const char* call = "write";
  bool ok = written == batch_.size();
  if (ok) {
    call = "fdatasync";
    ok = fdatasync(fd_) == 0;
  }
  if (!ok) {
    error = std::string(call) + " " + file_.string() + ": " + strerror(errno);
    // Whatever part of the batch reached the file must not count after a restart: its work
    // may not have been done (the caller redoes the whole batch).
    if (ftruncate(fd_, size_) != 0) {
      spdlog::error("ftruncate {}: {}; an unfinished batch may be taken as done after a restart",
                    file_.string(), strerror(errno));
    }
    rollback();
    return false;
  }
  size_ += static_cast<off_t>(batch_.size());
  for (char c : batch_)
    lines_ += c == '\n';
  batch_.clear();
  ids_.commit();
  if (lines_ > 2 * capacity_) compact();
  return true;
}

void DeliveredIds::rollback() {
  batch_.clear();
  ids_.rollback();
}

void DeliveredIds::compact() {
  // Write the remembered keys to a new file and rename it over the old one, so a crash at
  // any point leaves one complete file.
  const auto tmp = file_.string() + ".tmp";
  std::string text;
  ids_.forEachCommitted([&](std::string_view key) {
    text.append(key);
    text.push_back('\n');
  });
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && writeAll(fd, text) == text.size() && fdatasync(fd) == 0;
  const int err = errno;
  if (fd >= 0) close(fd);
  ok = ok && rename(tmp.c_str(), file_.c_str()) == 0;
  if (!ok) {
    spdlog::warn(
        "cannot rewrite {} to its newest {} keys ({}); it keeps growing until a "
        "rewrite succeeds",
        file_.string(), capacity_, strerror(err ? err : errno));
    unlink(tmp.c_str());
    return;
  }
  if (!syncDir(file_.parent_path())) {
    spdlog::warn("fsync of directory {} after rewriting {} failed: {}",
                 file_.parent_path().string(), file_.filename().string(), strerror(errno));
  }
  close(fd_);
  open();
  size_ = static_cast<off_t>(text.size());
  lines_ = ids_.size();
}

}  // namespace reporthub::outputs
