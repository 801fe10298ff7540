// Restart policy; see restart_policy.h.
#include "hub/restart_policy.h"

#include <algorithm>

namespace reporthub::hub {

void RestartPolicy::prune(TimePoint now) {
  while (!history_.empty() && history_.front() <= now - p_.window)
    history_.pop_front();
}

std::size_t RestartPolicy::recent(TimePoint now) {
  prune(now);
  return history_.size();
}

TimePoint RestartPolicy::nextRestart(TimePoint now) {
  // A process that stayed up for a whole window since its last restart has recovered: it
  // gets its immediate restarts back. Until then a throttled process stays throttled, even
  // when then_every is longer than the window and the old restarts have aged out of it.
  if (!history_.empty() && now - history_.back() >= p_.window) throttled_ = false;
  prune(now);
  const std::size_t n = history_.size();
  if (!throttled_ && n < static_cast<std::size_t>(p_.immediate)) {
    Duration pause = kFirstPause * (1 << std::min<std::size_t>(n, 16));
    return now + std::min(pause, kMaxPause);
  }
  // Throttled: one try per then_every, counted from the last restart.
  throttled_ = true;
  const TimePoint base = history_.empty() ? now : history_.back();
  return std::max(now, base + p_.then_every);
}

}  // namespace reporthub::hub
