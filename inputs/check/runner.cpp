// The check runner; see runner.h. Schedules are fixed-rate (each run is due one interval
// after the previous one was due, not after it ended), so a slow run or a late start never
// shifts a check's timetable; lateness is measured against that timetable.
#include "inputs/check/runner.h"

#include "common/log.h"
#include "common/zmq_util.h"
#include "inputs/check/builtin.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace reporthub::inputs::check {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string probeKind(const config::CheckProbe& p) {
  return std::visit(Overloaded{[](const config::CommandCheck&) { return "command"; },
                               [](const config::DiskCheck&) { return "disk"; },
                               [](const config::FileCheck&) { return "file"; },
                               [](const config::ProcessCheck&) { return "process"; },
                               [](const config::TcpCheck&) { return "tcp"; },
                               [](const config::QueueCheck&) { return "queue"; }},
                    p);
}

// What a check looks at, for the start-up log.
std::string probeTarget(const config::CheckProbe& p) {
  return std::visit(
      Overloaded{[](const config::CommandCheck& c) {
                   std::string s;
                   for (const auto& a : c.argv)
                     s += (s.empty() ? "" : " ") + printable(a, 200);
                   return "[" + s + "]" + (c.user.empty() ? "" : " as " + c.user);
                 },
                 [](const config::DiskCheck& c) {
                   return fmt::format("{} (warn {:g}%, crit {:g}%)", c.path.string(), c.warn,
                                      c.crit);
                 },
                 [](const config::FileCheck& c) { return c.path.string(); },
                 [](const config::ProcessCheck& c) {
                   return c.pidfile.empty() ? fmt::format("name {} (at least {})", c.name, c.min)
                                            : "pid file " + c.pidfile.string();
                 },
                 [](const config::TcpCheck& c) { return c.host + ":" + std::to_string(c.port); },
                 [](const config::QueueCheck& c) {
                   return fmt::format("{} (warn {}, crit {})", c.path.string(), c.warn, c.crit);
                 }},
      p);
}

Result runBuiltin(const config::CheckProbe& p, Duration timeout) {
  return std::visit(
      Overloaded{
          [](const config::CommandCheck&) {
            Result r;  // commands never reach a worker; a result all the same
            r.text = "a command check was given to a worker";
            return r;
          },
          [](const config::DiskCheck& c) { return diskProbe(c); },
          [](const config::FileCheck& c) { return fileProbe(c, std::chrono::system_clock::now()); },
          [](const config::ProcessCheck& c) { return processProbe(c); },
          [timeout](const config::TcpCheck& c) { return tcpProbe(c, timeout); },
          [](const config::QueueCheck& c) { return queueProbe(c); }},
      p);
}

std::string ms(Histogram::Micros v) {
  return fmt::format("{:.1f}ms", static_cast<double>(v.count()) / 1e3);
}

std::string seconds(Clock::duration d) {
  return fmt::format("{:.3f}s", std::chrono::duration<double>(d).count());
}

}  // namespace

void RunStats::merge(const RunStats& o) {
  started += o.started;
  finished += o.finished;
  timed_out += o.timed_out;
  skipped += o.skipped;
  behind += o.behind;
  reports += o.reports;
  lateness.merge(o.lateness);
}

Runner::Runner(const config::CheckInput& cfg, RunnerOptions opts, Submit submit)
    : cfg_(cfg), opts_(std::move(opts)), submit_(std::move(submit)) {
  concurrency_ = static_cast<std::size_t>(std::max(1, cfg_.concurrency));
  slots_.resize(cfg_.checks.size());
  for (std::size_t i = 0; i < slots_.size(); ++i)
    slots_[i].cfg = &cfg_.checks[i];
}

Runner::~Runner() = default;

void Runner::start(bool desk_on) {
  desk_on_ = desk_on;
  std::map<std::string, TrackerState> saved;
  if (!opts_.state_file.empty()) saved = loadStates(opts_.state_file);
  const auto now = Clock::now();
  started_at_ = now;
  next_summary_ = now + opts_.summary_every;
  last_save_ = now;

  std::size_t desk_only = 0;
  for (const auto& c : cfg_.checks)
    desk_only += c.desk ? 1 : 0;
  spdlog::info("{} checks ({} run only while the desk is on), at most {} at once; desk is {}{}",
               slots_.size(), desk_only, concurrency_, desk_on_ ? "on" : "off",
               saved.empty() ? "" : fmt::format("; {} saved states", saved.size()));

  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(1, slots_.size()));
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    const auto& c = *s.cfg;
    TrackerState st;
    if (auto it = saved.find(c.name); it != saved.end()) st = it->second;
    s.tracker = Tracker(c.renotify, st);
    // Spread evenly over the (capped) interval by position, so the load is flat from the
    // first minute and the same config always gives the same timetable.
    s.offset = std::min(c.every, kMaxSpread) * static_cast<std::int64_t>(i) / n;
    const bool runs = enabled(s);
    spdlog::info(
        "{}: {} {}, every {}, timeout {}, category {}{}{}{}; {}", c.name, probeKind(c.probe),
        probeTarget(c.probe), formatDuration(c.every), formatDuration(c.timeout),
        c.category.empty() ? "CHECK" : c.category, c.desk ? ", desk only" : "",
        c.renotify ? ", renotify " + formatDuration(*c.renotify) : "",
        st.known ? fmt::format(", last state {}", upperName(st.state)) : "",
        runs ? "first run in " + formatDuration(s.offset) : "waits for DeskOn (the desk is off)");
    if (runs) schedule(i, now + s.offset);
  }
}

void Runner::schedule(std::size_t i, Clock::time_point due) {
  Slot& s = slots_[i];
  if (s.scheduled) dues_.erase({s.due, i});
  s.due = due;
  s.scheduled = true;
  dues_.insert({due, i});
}

void Runner::unschedule(std::size_t i) {
  Slot& s = slots_[i];
  if (!s.scheduled) return;
  dues_.erase({s.due, i});
  s.scheduled = false;
}

void Runner::setDesk(bool on) {
  if (on == desk_on_ || stopping_) {
    desk_on_ = on;
    return;
  }
  desk_on_ = on;
  const auto now = Clock::now();
  std::size_t affected = 0, running = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.cfg->desk) continue;
    ++affected;
    if (on) {
      if (!s.scheduled) schedule(i, now + s.offset);
      continue;
    }
    unschedule(i);
    s.again = false;
    if (s.phase == Phase::queued) {
      ready_.erase(std::find(ready_.begin(), ready_.end(), i));
      s.phase = Phase::idle;
    }
    if (s.phase == Phase::running) ++running;
  }
  if (on) {
    spdlog::info("desk on: {} desk checks resume", affected);
  } else {
    spdlog::info("desk off: {} desk checks paused{}", affected,
                 running ? fmt::format(" ({} running now finish and report first)", running) : "");
  }
}

void Runner::requestStop() {
  if (stopping_) return;
  stopping_ = true;
  dues_.clear();
  for (auto& s : slots_) {
    s.scheduled = false;
    s.again = false;
    if (s.phase == Phase::queued) s.phase = Phase::idle;
  }
  ready_.clear();
  if (running_ == 0) {
    spdlog::info("stop requested: no check is running; exiting");
    return;
  }
  Clock::time_point last = Clock::now();
  for (std::size_t i : active_)
    last = std::max(last, slots_[i].deadline);
  spdlog::info(
      "stop requested: no new checks start; waiting for the {} running (at most {}) "
      "and reporting their results",
      running_, seconds(last - Clock::now()));
}

void Runner::handleDue(Clock::time_point now) {
  while (!dues_.empty() && dues_.begin()->first <= now) {
    const auto [due, i] = *dues_.begin();
    dues_.erase(dues_.begin());
    Slot& s = slots_[i];
    s.scheduled = false;
    if (!enabled(s)) continue;
    if (s.phase == Phase::running && s.timed_out) {
      // Killed at its timeout and about to be reaped: the new run follows at once.
      s.again = true;
      s.again_due = due;
    } else if (s.phase != Phase::idle || s.worker_busy) {
      ++window_.skipped;
      if (!s.warned_skip) {
        s.warned_skip = true;
        spdlog::warn(
            "{}: skipped a run: the previous one {}; further skips are counted in the "
            "summary",
            s.cfg->name,
            s.phase == Phase::queued                  ? "is still waiting for a free place"
            : s.worker_busy && s.phase == Phase::idle ? "timed out and has not returned yet"
                                                      : "is still running");
      }
    } else {
      s.phase = Phase::queued;
      s.run_due = due;
      ready_.push_back(i);
    }
    // Fixed rate. A process that was stalled for whole intervals does not make them up.
    auto next = due + s.cfg->every;
    if (next <= now) {
      const auto missed = (now - next) / s.cfg->every + 1;
      next += s.cfg->every * missed;
      window_.behind += static_cast<std::uint64_t>(missed);
    }
    schedule(i, next);
  }
}

void Runner::startRun(std::size_t i, Clock::time_point now) {
  Slot& s = slots_[i];
  const auto& c = *s.cfg;
  s.started = now;
  s.timed_out = false;
  ++window_.started;
  window_.lateness.add(std::chrono::duration_cast<Histogram::Micros>(now - s.run_due));

  if (const auto* cmd = std::get_if<config::CommandCheck>(&c.probe)) {
    std::string error;
    s.cmd = CommandRun::start(*cmd, opts_.workdir, error);
    if (!s.cmd) {
      s.phase = Phase::running;  // finish() expects a run in progress
      ++running_;
      active_.push_back(i);
      Result r;
      r.state = State::unknown;
      r.text = error;
      finish(i, std::move(r), now);
      return;
    }
    // Never past the next due time: with timeout == every, a hanging plugin is killed just
    // as its next run falls due, and that run follows instead of being skipped.
    s.deadline = std::min(now + c.timeout, s.run_due + c.every);
  } else {
    s.tag = next_tag_++;
    s.worker_busy = true;
    tags_[s.tag] = i;
    s.deadline = now + c.timeout + kBuiltinGrace;
    pool_.post(s.tag,
               [probe = c.probe, timeout = c.timeout] { return runBuiltin(probe, timeout); });
  }
  s.phase = Phase::running;
  ++running_;
  active_.push_back(i);
}

void Runner::finish(std::size_t i, Result r, Clock::time_point now) {
  Slot& s = slots_[i];
  const auto took = now - s.started;
  s.phase = Phase::idle;
  s.cmd.reset();
  --running_;
  active_.erase(std::find(active_.begin(), active_.end(), i));
  ++window_.finished;

  const bool first = !s.tracker.state().known;
  const auto d = s.tracker.observe(r.state, std::chrono::system_clock::now());
  if (first || d.changed || d.notice != Notice::none) dirty_ = true;
  const auto& name = s.cfg->name;
  if (d.notice == Notice::flapping) {
    spdlog::warn(
        "{}: flapping ({} state changes in the last {} runs), now {}: {}; reported once, "
        "then again when it settles",
        name, d.changes, kFlapWindow, upperName(r.state), r.text);
  } else if (d.notice == Notice::settled) {
    spdlog::info("{}: settled in {} after flapping: {}", name, upperName(r.state), r.text);
  } else if (d.changed && !s.tracker.state().flapping) {
    spdlog::info("{}: {} -> {}: {}", name, upperName(d.previous), upperName(r.state), r.text);
  } else if (d.changed) {
    spdlog::debug("{}: {} -> {} while flapping", name, upperName(d.previous), upperName(r.state));
  } else if (first && r.state != State::ok) {
    spdlog::info("{}: {}: {}", name, upperName(r.state), r.text);
  }
  if (d.notice != Notice::none) report(s, r, d, std::chrono::duration_cast<Duration>(took));

  if (s.again) {
    s.again = false;
    if (enabled(s) && !s.worker_busy) {
      s.phase = Phase::queued;
      s.run_due = s.again_due;
      ready_.push_back(i);
    }
  }
}

void Runner::report(Slot& s, const Result& r, const Tracker::Decision& d, Duration took) {
  const auto& c = *s.cfg;
  const auto& st = s.tracker.state();
  Report rep;
  rep.id = newReportId();
  rep.ts_ns = nowNs();
  rep.origin = opts_.node;
  rep.source = "check";
  rep.category = c.category.empty() ? "CHECK" : c.category;
  rep.severity = d.notice == Notice::flapping ? Severity::warning : severityOf(r.state);
  const std::string state(upperName(r.state));
  switch (d.notice) {
    case Notice::flapping:
      rep.text = fmt::format("{}: FLAPPING - {} state changes in the last {} runs, now {} - {}",
                             c.name, d.changes, kFlapWindow, state, r.text);
      break;
    case Notice::renotify:
      rep.text = fmt::format("{}: {} - {} (still, for {})", c.name, state, r.text,
                             humanAge(std::chrono::duration_cast<Duration>(
                                 std::chrono::system_clock::now() - st.since)));
      break;
    default:
      rep.text = fmt::format("{}: {} - {}", c.name, state, r.text);
  }
  rep.attrs["check"] = c.name;
  rep.attrs["state"] = lowerName(r.state);
  rep.attrs["notice"] = noticeName(d.notice);
  rep.attrs["probe"] = probeKind(c.probe);
  rep.attrs["duration"] = fmt::format("{:.3f}s", std::chrono::duration<double>(took).count());
  if (d.notice != Notice::problem || d.changed) {
    rep.attrs["previous_state"] = lowerName(d.previous);
  }
  if (!r.perfdata.empty()) rep.attrs["perfdata"] = r.perfdata;
  if (r.exit_status) rep.attrs["exit_status"] = std::to_string(*r.exit_status);
  if (submit_(rep)) {
    ++window_.reports;
  } else {
    spdlog::warn(
        "{}: could not submit the report '{}' (stopping while the hub granted no "
        "credit); it is lost",
        c.name, rep.text);
  }
}

void Runner::checkDeadlines(Clock::time_point now) {
  // Copy: finish() edits active_.
  const std::vector<std::size_t> active = active_;
  for (std::size_t i : active) {
    Slot& s = slots_[i];
    if (s.phase != Phase::running || s.timed_out || s.deadline > now) continue;
    ++window_.timed_out;
    if (s.cmd) {
      // The result comes once the kill is reaped (normally the next round).
      s.timed_out = true;
      s.cmd->killGroup();
      continue;
    }
    // A built-in stuck in a system call cannot be killed; its worker is abandoned, the
    // check counts as still running for scheduling until the worker returns.
    tags_.erase(s.tag);
    Result r;
    r.state = State::unknown;
    r.text = "timed out after " + formatDuration(s.cfg->timeout);
    spdlog::warn(
        "{}: built-in check gave no answer within {}; reported UNKNOWN, and the check is "
        "not run again until the stuck call returns",
        s.cfg->name, formatDuration(s.cfg->timeout + kBuiltinGrace));
    finish(i, std::move(r), now);
  }
}

void Runner::takeWorkerResults(Clock::time_point now) {
  for (auto& [tag, result] : pool_.take()) {
    auto it = tags_.find(tag);
    if (it == tags_.end()) {
      // An abandoned run came back: the check may run again.
      for (auto& s : slots_) {
        if (s.tag == tag) {
          s.worker_busy = false;
          spdlog::info(
              "{}: the run that timed out has returned after all ({}); its result is "
              "dropped",
              s.cfg->name, result.text);
        }
      }
      continue;
    }
    const std::size_t i = it->second;
    tags_.erase(it);
    slots_[i].worker_busy = false;
    finish(i, std::move(result), now);
  }
}

void Runner::step(std::vector<zmq::pollitem_t>& extra, Duration max_wait) {
  auto now = Clock::now();
  checkDeadlines(now);
  if (!stopping_) {
    handleDue(now);
    while (!ready_.empty() && running_ < concurrency_) {
      const std::size_t i = ready_.front();
      ready_.pop_front();
      startRun(i, now);
    }
  }

  // Sleep until the next due time, deadline, summary or save, whichever comes first.
  auto wake = now + max_wait;
  if (!dues_.empty()) wake = std::min(wake, dues_.begin()->first);
  for (std::size_t i : active_) {
    if (!slots_[i].timed_out) wake = std::min(wake, slots_[i].deadline);
  }
  wake = std::min(wake, next_summary_);
  if (dirty_) wake = std::min(wake, last_save_ + std::chrono::seconds(1));
  const auto timeout = std::max(Duration(0), std::chrono::ceil<Duration>(wake - now));

  items_.assign(extra.begin(), extra.end());
  items_.push_back({nullptr, pool_.fd(), ZMQ_POLLIN, 0});
  struct Source {
    std::size_t slot;
    int fd;
  };
  std::vector<Source> sources;  // for items_[extra.size() + 1 + k]
  for (std::size_t i : active_) {
    const auto& cmd = slots_[i].cmd;
    if (!cmd) continue;
    for (int fd : {cmd->pidfd(), cmd->outFd(), cmd->errFd()}) {
      if (fd < 0) continue;
      items_.push_back({nullptr, fd, ZMQ_POLLIN, 0});
      sources.push_back({i, fd});
    }
  }
  zmqu::poll(items_, timeout);
  for (std::size_t k = 0; k < extra.size(); ++k)
    extra[k].revents = items_[k].revents;

  now = Clock::now();
  if (items_[extra.size()].revents) takeWorkerResults(now);
  for (std::size_t k = 0; k < sources.size(); ++k) {
    if (!items_[extra.size() + 1 + k].revents) continue;
    Slot& s = slots_[sources[k].slot];
    if (!s.cmd) continue;  // finished earlier in this loop
    if (sources[k].fd == s.cmd->pidfd()) {
      if (s.cmd->reap()) {
        Result r;
        if (s.timed_out) {
          r.state = State::unknown;
          r.text = "timed out after " + formatDuration(s.cfg->timeout);
        } else {
          r = s.cmd->result();
        }
        finish(sources[k].slot, std::move(r), now);
      }
    } else {
      s.cmd->readOutput(sources[k].fd);
    }
  }
  checkDeadlines(now);
  if (now >= next_summary_) {
    logSummary(false);
    next_summary_ += opts_.summary_every;
    if (next_summary_ <= now) next_summary_ = now + opts_.summary_every;
  }
  if (dirty_ && now - last_save_ >= std::chrono::seconds(1)) saveStates(false);
}

void Runner::saveStates(bool force) {
  if (opts_.state_file.empty() || (!dirty_ && !force)) return;
  last_save_ = Clock::now();
  std::map<std::string, TrackerState> all;
  for (const auto& s : slots_)
    all[s.cfg->name] = s.tracker.state();
  try {
    check::saveStates(opts_.state_file, all);
    dirty_ = false;
    if (save_failing_) spdlog::info("state file {} written again", opts_.state_file.string());
    save_failing_ = false;
  } catch (const std::system_error& e) {
    if (!save_failing_) {
      spdlog::warn(
          "cannot save check states: {}; retrying every second (a restart of the check "
          "process now would report non-ok states again)",
          e.what());
    }
    save_failing_ = true;
  }
}

const RunStats& Runner::totals() const {
  totals_view_ = totals_;
  totals_view_.merge(window_);
  return totals_view_;
}

void Runner::logSummary(bool final) {
  const auto now = Clock::now();
  std::string span;
  RunStats w;
  if (final) {
    totals_.merge(window_);
    window_ = {};
    w = totals_;
    span =
        "since start (" + humanAge(std::chrono::duration_cast<Duration>(now - started_at_)) + ")";
  } else {
    w = window_;
    totals_.merge(window_);
    window_ = {};
    span = "last " + formatDuration(opts_.summary_every);
  }
  std::size_t counts[4] = {0, 0, 0, 0}, flapping = 0, paused = 0, never = 0;
  for (const auto& s : slots_) {
    const auto& st = s.tracker.state();
    if (!st.known) {
      ++never;
    } else {
      ++counts[static_cast<int>(st.state)];
      if (st.flapping) ++flapping;
    }
    if (s.cfg->desk && !desk_on_) ++paused;
  }
  spdlog::info(
      "{}{}: {} runs ({} timed out), {} skipped (previous run still going), {} missed (behind "
      "schedule), {} reports; start lateness p50 {} p99 {} max {}; now {} ok, {} warning, {} "
      "critical, {} unknown, {} flapping, {} not run yet, {} paused (desk off)",
      final ? "stopping: " : "", span, w.finished, w.timed_out, w.skipped, w.behind, w.reports,
      ms(w.lateness.quantile(0.5)), ms(w.lateness.quantile(0.99)), ms(w.lateness.max()), counts[0],
      counts[1], counts[2], counts[3], flapping, never, paused);
  saveStates(final);
}

}  // namespace reporthub::inputs::check
