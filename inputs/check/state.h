// "State, not noise": what one check's results mean to the operator. A tracker per check
// turns each run's state into at most one report (problem, recovery, renotify, flapping,
// settled) against a clock handed in, and the trackers are saved so a restart of the check
// process does not repeat what was already reported.
#pragma once

#include "common/duration.h"
#include "common/report.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace reporthub::inputs::check {

// Monitoring-plugin states, in the order of their exit codes (0..3).
enum class State : std::uint8_t { ok = 0, warning = 1, critical = 2, unknown = 3 };

std::string_view upperName(State s);  // "OK", "WARNING", "CRITICAL", "UNKNOWN"
std::string_view lowerName(State s);  // "ok", ... (attrs, the state file)
std::optional<State> parseState(std::string_view lower);
Severity severityOf(State s);  // ok info, warning warning, critical critical, unknown error

using WallTime = std::chrono::system_clock::time_point;

// Flapping: at least kFlapChanges state changes among the last kFlapWindow results enter
// it; kSettleRuns equal results in a row leave it.
constexpr int kFlapWindow = 10;
constexpr int kFlapChanges = 5;
constexpr int kSettleRuns = 5;

enum class Notice {
  none,
  problem,   // a non-ok state: first run, or a change between states
  recovery,  // back to ok from a non-ok state
  renotify,  // still the same non-ok state, `renotify` after the last report
  flapping,  // too many changes: reported once, then quiet
  settled,   // flapping ended: the state it settled in
};
std::string_view noticeName(Notice n);

// What a tracker remembers; also what the state file holds per check.
struct TrackerState {
  bool known = false;  // has run at least once (this process or a saved one)
  State state = State::ok;
  WallTime since{};        // when `state` began
  WallTime last_report{};  // time of the last report for this check (renotify counts from it)
  bool flapping = false;
  std::string history;  // last results, oldest first, one char each: O W C U
  bool operator==(const TrackerState&) const = default;
};

class Tracker {
 public:
  explicit Tracker(std::optional<Duration> renotify = std::nullopt, TrackerState saved = {})
      : renotify_(renotify), s_(std::move(saved)) {}

  struct Decision {
    Notice notice = Notice::none;
    State previous = State::ok;  // the state before this result
    bool changed = false;        // the state differs from the previous one
    int changes = 0;             // state changes in the recent window (for the flapping text)
  };
  // One run's state at `now`. Updates what the tracker remembers; says what to report.
  Decision observe(State state, WallTime now);

  const TrackerState& state() const { return s_; }

 private:
  int changesInHistory() const;

  std::optional<Duration> renotify_;
  TrackerState s_;
};

// The state file: one JSON object, written whole to FILE.tmp and renamed.
// load() returns an empty map if the file is missing, and logs and ignores a damaged one.
std::map<std::string, TrackerState> loadStates(const std::filesystem::path& file);
// Throws std::system_error naming the call and file if it cannot write.
void saveStates(const std::filesystem::path& file, const std::map<std::string, TrackerState>& all);

}  // namespace reporthub::inputs::check
