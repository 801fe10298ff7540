// Worker threads for the built-in checks, whose system calls can block (statvfs on a hung
// NFS mount, DNS), so that the runner's event loop never does. Results come back through
// an eventfd the loop polls. The runner bounds how many jobs run at once.
#pragma once

#include "inputs/check/result.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace reporthub::inputs::check {

class WorkerPool {
 public:
  WorkerPool();
  // Idle workers are ended and joined; one still blocked in a probe is left to the process
  // exit, which ends it (a thread cannot be cancelled safely out of a system call).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Readable while results are waiting to be taken.
  int fd() const { return shared_->efd; }
  // Runs `job` on an idle worker, or on a new one if none is idle.
  void post(std::uint64_t tag, std::function<Result()> job);
  // The results finished since the last call, with their tags.
  std::vector<std::pair<std::uint64_t, Result>> take();
  int threads() const;

 private:
  struct Job {
    std::uint64_t tag;
    std::function<Result()> run;
  };
  // Outlives the pool while a detached worker still holds it.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;       // workers wait for jobs
    std::condition_variable exit_cv;  // the destructor waits for idle workers to leave
    std::deque<Job> jobs;
    std::vector<std::pair<std::uint64_t, Result>> done;
    int efd = -1;
    int alive = 0;
    int idle = 0;
    bool quit = false;
    ~Shared();
  };
  static void work(std::shared_ptr<Shared> s);

  std::shared_ptr<Shared> shared_;
};

}  // namespace reporthub::inputs::check
