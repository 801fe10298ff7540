// DS processes run only while their hub holds <state_dir>/ds.lock (DESIGN §1 "Start" step
// 4): ds_send checks it at start and then every second, and exits when its hub no longer
// holds it. The check runs on its own thread, so it also fires while the main loop waits
// on a slow server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace reporthub::outputs::ds_send {

class DsLockWatch {
 public:
  // Calls `lost(problem)` from the watch thread, once, as soon as a check finds a problem.
  DsLockWatch(std::filesystem::path lock, pid_t hub, std::chrono::milliseconds every,
              std::function<void(const std::string&)> lost);
  ~DsLockWatch();
  DsLockWatch(const DsLockWatch&) = delete;
  DsLockWatch& operator=(const DsLockWatch&) = delete;

 private:
  void run();

  std::filesystem::path lock_;
  pid_t hub_;
  std::chrono::milliseconds every_;
  std::function<void(const std::string&)> lost_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace reporthub::outputs::ds_send
