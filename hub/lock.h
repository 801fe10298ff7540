// The hub's exclusive lock (DESIGN §1 "Start", step 1): an OFD lock on <state_dir>/hub.lock,
// held for the hub's whole life. The kernel drops it when the hub dies, however it dies,
// and the file is opened O_CLOEXEC so no child can keep it alive.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace reporthub::hub {

struct LockHolder {
  pid_t pid = 0;        // as written in the file by the holder
  std::string started;  // the holder's start time, as written
};

class HubLock {
 public:
  HubLock() = default;
  HubLock(HubLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  HubLock& operator=(HubLock&& o) noexcept {
    if (this != &o) {
      release();
      fd_ = o.fd_;
      path_ = std::move(o.path_);
      o.fd_ = -1;
    }
    return *this;
  }
  ~HubLock();

  // Takes the lock or returns nullopt if another process holds it. Throws
  // std::system_error if the file cannot be opened or written.
  static std::optional<HubLock> acquire(const std::filesystem::path& path);

  // Who holds the lock now, or nullopt if nobody (no file, or not locked).
  static std::optional<LockHolder> holder(const std::filesystem::path& path);

  void release();
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace reporthub::hub
