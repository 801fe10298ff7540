// The hub's exclusive locks (DESIGN §1 "Start"): an OFD lock on <state_dir>/hub.lock, held
// for the hub's whole life, and on <state_dir>/ds.lock while DS transport is available. The
// kernel drops a lock when its holder dies, however it dies, and the file is opened
// O_CLOEXEC so no child can keep it alive. DS processes ask holder() whether their hub
// still holds ds.lock.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace reporthub {

struct LockHolder {
  pid_t pid = 0;        // as written in the file by the holder
  std::string started;  // the holder's start time, as written
};

class ExclusiveLock {
 public:
  ExclusiveLock() = default;
  ExclusiveLock(ExclusiveLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  ExclusiveLock& operator=(ExclusiveLock&& o) noexcept {
    if (this != &o) {
      release();
      fd_ = o.fd_;
      path_ = std::move(o.path_);
      o.fd_ = -1;
    }
    return *this;
  }
  ~ExclusiveLock();

  // Takes the lock or returns nullopt if another process holds it. Throws
  // std::system_error if the file cannot be opened or written.
  static std::optional<ExclusiveLock> acquire(const std::filesystem::path& path);

  // Who holds the lock now, or nullopt if nobody (no file, or not locked).
  static std::optional<LockHolder> holder(const std::filesystem::path& path);

  void release();
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// Why `path` is not held by process `pid` ("" if it is): how a DS process checks that its
// hub (its parent) holds ds.lock.
std::string lockNotHeldBy(const std::filesystem::path& path, pid_t pid);

}  // namespace reporthub
