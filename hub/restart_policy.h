// When to restart a child that exited abnormally (DESIGN §1 "Supervision"): up to
// `immediate` restarts inside any `window` right away, after a short growing pause, then one
// try every `then_every`, so a crash loop never becomes a restart storm. Pure logic against
// time points handed in, so it is tested with a fake clock.
#pragma once

#include "config/config.h"

#include <chrono>
#include <deque>

namespace reporthub::hub {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

class RestartPolicy {
 public:
  explicit RestartPolicy(config::RestartPolicy p) : p_(p) {}

  // The pause before the first immediate restart; doubles for each further one inside the
  // window (100ms, 200ms, 400ms...), capped at kMaxPause. A pause at all, because a process
  // that dies at once would otherwise spin the supervisor.
  static constexpr Duration kFirstPause = std::chrono::milliseconds(100);
  static constexpr Duration kMaxPause = std::chrono::seconds(5);

  // When the next restart should happen for a crash at `now`.
  TimePoint nextRestart(TimePoint now);

  // Records that a restart happened at `at`.
  void restarted(TimePoint at) { history_.push_back(at); }

  // Restarts counted inside the current window (for status).
  std::size_t recent(TimePoint now);
  bool throttled() const { return throttled_; }
  const config::RestartPolicy& config() const { return p_; }

 private:
  void prune(TimePoint now);
  config::RestartPolicy p_;
  std::deque<TimePoint> history_;  // restart times inside the window, oldest first
  bool throttled_ = false;
};

}  // namespace reporthub::hub
