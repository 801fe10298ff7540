// The ds.lock check; see ds_lock_watch.h.
#include "outputs/ds_send/ds_lock_watch.h"

#include "common/lock.h"

#include <pthread.h>
#include <signal.h>

namespace reporthub::outputs::ds_send {

DsLockWatch::DsLockWatch(std::filesystem::path lock, pid_t hub, std::chrono::milliseconds every,
                         std::function<void(const std::string&)> lost)
    : lock_(std::move(lock)), hub_(hub), every_(every), lost_(std::move(lost)) {
  // The thread starts with every signal blocked: SIGTERM, SIGINT and SIGHUP belong to the
  // child library's signalfd, and a thread that left them unblocked would take SIGTERM's
  // default action (death) instead of the orderly stop.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
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
    if (const std::string problem = lockNotHeldBy(lock_, hub_); !problem.empty()) {
      lost_(problem);
      return;
    }
  }
}

}  // namespace reporthub::outputs::ds_send
