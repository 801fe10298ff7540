// The ds.lock check; see ds_lock_watch.h.
#include "outputs/ds_send/ds_lock_watch.h"

#include "common/lock.h"

namespace reporthub::outputs::ds_send {

std::string dsLockProblem(const std::filesystem::path& lock, pid_t hub) {
  const auto holder = ExclusiveLock::holder(lock);
  if (!holder) return lock.string() + " is not held by any process";
  if (holder->pid != hub) {
    return lock.string() + " is held by pid " + std::to_string(holder->pid) +
           ", not by this process's hub (pid " + std::to_string(hub) + ")";
  }
  return {};
}

DsLockWatch::DsLockWatch(std::filesystem::path lock, pid_t hub, std::chrono::milliseconds every,
                         std::function<void(const std::string&)> lost)
    : lock_(std::move(lock)), hub_(hub), every_(every), lost_(std::move(lost)) {
  thread_ = std::thread([this] { run(); });
}

DsLockWatch::~DsLockWatch() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DsLockWatch::run() {
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, every_, [this] { return stop_; })) {
    if (const std::string problem = dsLockProblem(lock_, hub_); !problem.empty()) {
      lost_(problem);
      return;
    }
  }
}

}  // namespace reporthub::outputs::ds_send
