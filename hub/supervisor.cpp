// Child supervision as a state x event table; see supervisor.h.
#include "hub/supervisor.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <spdlog/spdlog.h>

#include <cerrno>

namespace reporthub::hub {

namespace {
std::string ms(Duration d) {
  return formatDuration(d);
}
Duration until(TimePoint later, TimePoint now) {
  return std::chrono::duration_cast<Duration>(later - now);
}
}  // namespace

std::string_view toString(State s) {
  static constexpr std::string_view kNames[] = {"stopped", "starting", "running", "stopping",
                                                "backoff"};
  return kNames[static_cast<int>(s)];
}

void Supervisor::add(ProcessSpec spec) {
  Process p;
  p.policy = RestartPolicy(spec.restart);
  p.spec = std::move(spec);
  std::string id = p.spec.id;
  processes_.insert_or_assign(std::move(id), std::move(p));
}

void Supervisor::remove(const std::string& id) {
  processes_.erase(id);
}

void Supervisor::restoreRestarts(const std::string& id, int restarts) {
  if (auto it = processes_.find(id); it != processes_.end()) it->second.restarts = restarts;
}

void Supervisor::setRestartPolicy(const std::string& id, const config::RestartPolicy& policy) {
  auto it = processes_.find(id);
  if (it == processes_.end() || it->second.spec.restart == policy) return;
  it->second.spec.restart = policy;
  it->second.policy = RestartPolicy(policy);
}

void Supervisor::start(const std::string& id, TimePoint now) {
  if (auto it = processes_.find(id); it != processes_.end()) handle(it->second, Event::start, now);
}

void Supervisor::stop(const std::string& id, TimePoint now) {
  if (auto it = processes_.find(id); it != processes_.end()) handle(it->second, Event::stop, now);
}

void Supervisor::kill(const std::string& id, TimePoint now) {
  if (auto it = processes_.find(id); it != processes_.end()) handle(it->second, Event::kill, now);
}

bool Supervisor::ready(const std::string& id, pid_t pid, TimePoint now) {
  auto it = processes_.find(id);
  if (it == processes_.end() || it->second.pid != pid || it->second.state != State::starting) {
    return false;
  }
  handle(it->second, Event::ready, now);
  return true;
}

bool Supervisor::exited(pid_t pid, int wait_status, TimePoint now) {
  for (auto& [id, p] : processes_) {
    if (p.pid == pid && pid > 0) {
      handle(p, Event::exited, now, wait_status);
      return true;
    }
  }
  return false;
}

bool Supervisor::timed(const Process& p) {
  // A killed process has no deadline left: only its exit can move it on.
  return (p.state == State::starting && !p.killed) || (p.state == State::stopping && !p.killed) ||
         p.state == State::backoff;
}

void Supervisor::tick(TimePoint now) {
  for (auto& [id, p] : processes_) {
    if (timed(p) && p.deadline <= now) handle(p, Event::deadline, now);
  }
}

std::optional<TimePoint> Supervisor::nextDeadline() const {
  std::optional<TimePoint> next;
  for (const auto& [id, p] : processes_) {
    if (timed(p) && (!next || p.deadline < *next)) next = p.deadline;
  }
  return next;
}

const Process* Supervisor::find(const std::string& id) const {
  auto it = processes_.find(id);
  return it == processes_.end() ? nullptr : &it->second;
}

const Process* Supervisor::findPid(pid_t pid) const {
  for (const auto& [id, p] : processes_) {
    if (p.pid == pid && pid > 0) return &p;
  }
  return nullptr;
}

bool Supervisor::noneAlive(std::optional<wire::Kind> kind) const {
  for (const auto& [id, p] : processes_) {
    if (kind && p.spec.kind != *kind) continue;
    if (p.state == State::starting || p.state == State::running || p.state == State::stopping) {
      return false;
    }
  }
  return true;
}

void Supervisor::enter(Process& p, State s) {
  const State from = p.state;
  p.state = s;
  if (on_change) on_change(p, from);
}

void Supervisor::spawn(Process& p, TimePoint now) {
  p.killed = false;
  p.started = now;
  p.pid = actions_.spawn(p.spec);
  if (p.pid < 0) {
    const int err = errno;
    p.pid = 0;
    p.last_exit = std::string("spawn failed: ") + strerror(err);
    p.deadline = p.policy.nextRestart(now);
    spdlog::error("{}: cannot start: {}; next try in {}", p.spec.id, strerror(err),
                  ms(until(p.deadline, now)));
    enter(p, State::backoff);
    return;
  }
  p.deadline = now + kReadyTimeout;
  enter(p, State::starting);
}

// The table. Each case names (state, event) and what it does; pairs not listed are
// ignored on purpose (a stop for a stopped process, a deadline for a running one).
void Supervisor::handle(Process& p, Event ev, TimePoint now, int wait_status) {
  const std::string& id = p.spec.id;
  switch (p.state) {
    case State::stopped:
      if (ev == Event::start) spawn(p, now);
      break;

    case State::starting:
    case State::running:
      if (ev == Event::ready && p.state == State::starting) {
        p.ready_at = now;
        spdlog::info("{} (pid {}) is up", id, p.pid);
        enter(p, State::running);
      } else if (ev == Event::stop || ev == Event::kill) {
        const bool now_kill = ev == Event::kill;
        actions_.signalGroup(p.pid, now_kill ? SIGKILL : SIGTERM);
        p.killed = now_kill;
        p.deadline = now + kill_timeout_;
        enter(p, State::stopping);
      } else if (ev == Event::deadline && p.state == State::starting) {
        spdlog::error("{} (pid {}) did not say ready within {}; killing it and restarting", id,
                      p.pid, ms(kReadyTimeout));
        actions_.signalGroup(p.pid, SIGKILL);
        p.killed = true;  // the exit that follows is handled as a crash
      } else if (ev == Event::exited) {
        p.last_exit = describeWaitStatus(wait_status);
        const pid_t old = p.pid;
        p.pid = 0;
        const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 && !p.killed;
        if (clean) {
          spdlog::warn(
              "{} (pid {}) exited on its own with status 0; not restarted (only "
              "abnormal exits are)",
              id, old);
          enter(p, State::stopped);
          break;
        }
        p.deadline = p.policy.nextRestart(now);
        spdlog::error(
            "{} (pid {}) died: {}; restarting in {}{}", id, old, p.last_exit,
            ms(until(p.deadline, now)),
            p.policy.throttled() ? " (crash loop: throttled to one try per then_every)" : "");
        enter(p, State::backoff);
      }
      break;

    case State::stopping:
      if (ev == Event::exited) {
        p.last_exit = describeWaitStatus(wait_status);
        spdlog::info("{} (pid {}) stopped: {}", id, p.pid, p.last_exit);
        p.pid = 0;
        enter(p, State::stopped);
      } else if ((ev == Event::deadline || ev == Event::kill) && !p.killed) {
        if (ev == Event::deadline) {
          spdlog::warn(
              "{} (pid {}) still running {} after the stop request; killed (SIGKILL to "
              "its process group)",
              id, p.pid, ms(kill_timeout_));
        }
        actions_.signalGroup(p.pid, SIGKILL);
        p.killed = true;
      }
      break;

    case State::backoff:
      if (ev == Event::deadline) {
        ++p.restarts;
        p.policy.restarted(now);
        spawn(p, now);
      } else if (ev == Event::stop || ev == Event::kill) {
        enter(p, State::stopped);
      }
      break;
  }
}

}  // namespace reporthub::hub
