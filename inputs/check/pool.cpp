// Worker threads for built-in checks; see pool.h.
#include "inputs/check/pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace reporthub::inputs::check {

WorkerPool::Shared::~Shared() {
  if (efd >= 0) close(efd);
}

WorkerPool::WorkerPool() : shared_(std::make_shared<Shared>()) {
  shared_->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (shared_->efd < 0) throw std::runtime_error(std::string("eventfd: ") + strerror(errno));
}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(shared_->mu);
  shared_->quit = true;
  shared_->jobs.clear();
  shared_->cv.notify_all();
  // Workers busy in a probe (timed out and abandoned by the runner) are not waited for.
  const int busy = shared_->alive - shared_->idle;
  shared_->exit_cv.wait(lock, [&] { return shared_->alive <= busy; });
}

void WorkerPool::post(std::uint64_t tag, std::function<Result()> job) {
  std::lock_guard lock(shared_->mu);
  shared_->jobs.push_back({tag, std::move(job)});
  if (shared_->idle < static_cast<int>(shared_->jobs.size())) {
    ++shared_->alive;
    ++shared_->idle;  // counted idle until it takes a job, so one post makes one thread
    // Detached: the pool can end while a worker is stuck in a probe (see ~WorkerPool).
    std::thread(&WorkerPool::work, shared_).detach();
  }
  shared_->cv.notify_one();
}

std::vector<std::pair<std::uint64_t, Result>> WorkerPool::take() {
  std::uint64_t n;
  while (read(shared_->efd, &n, sizeof n) < 0 && errno == EINTR) {
  }
  std::lock_guard lock(shared_->mu);
  return std::exchange(shared_->done, {});
}

int WorkerPool::threads() const {
  std::lock_guard lock(shared_->mu);
  return shared_->alive;
}

void WorkerPool::work(std::shared_ptr<Shared> s) {
  std::unique_lock lock(s->mu);
  for (;;) {
    s->cv.wait(lock, [&] { return s->quit || !s->jobs.empty(); });
    if (s->quit) break;
    Job job = std::move(s->jobs.front());
    s->jobs.pop_front();
    --s->idle;
    lock.unlock();
    Result r;
    try {
      r = job.run();
    } catch (const std::exception& e) {
      r.state = State::unknown;
      r.text = std::string("check failed: ") + e.what();
    }
    lock.lock();
    s->done.emplace_back(job.tag, std::move(r));
    ++s->idle;
    const std::uint64_t one = 1;
    (void)!write(s->efd, &one, sizeof one);
  }
  --s->alive;
  --s->idle;
  s->exit_cv.notify_all();
}

}  // namespace reporthub::inputs::check
