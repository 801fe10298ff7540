// Check states and the per-check report decision; see state.h.
#include "inputs/check/state.h"

#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <system_error>

namespace reporthub::inputs::check {

namespace {

constexpr std::string_view kUpper[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
constexpr std::string_view kLower[] = {"ok", "warning", "critical", "unknown"};
constexpr char kLetter[] = {'O', 'W', 'C', 'U'};

std::int64_t toMs(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
WallTime fromMs(std::int64_t ms) {
  return WallTime{std::chrono::milliseconds(ms)};
}

}  // namespace

std::string_view upperName(State s) {
  return kUpper[static_cast<int>(s)];
}
std::string_view lowerName(State s) {
  return kLower[static_cast<int>(s)];
}
std::optional<State> parseState(std::string_view lower) {
  for (int i = 0; i < 4; ++i) {
    if (kLower[i] == lower) return static_cast<State>(i);
  }
  return std::nullopt;
}

Severity severityOf(State s) {
  switch (s) {
    case State::ok:
      return Severity::info;
    case State::warning:
      return Severity::warning;
    case State::critical:
      return Severity::critical;
    case State::unknown:
      break;
  }
  return Severity::error;
}

std::string_view noticeName(Notice n) {
  switch (n) {
    case Notice::none:
      return "none";
    case Notice::problem:
      return "problem";
    case Notice::recovery:
      return "recovery";
    case Notice::renotify:
      return "renotify";
    case Notice::flapping:
      return "flapping";
    case Notice::settled:
      return "settled";
  }
  return "none";
}

int Tracker::changesInHistory() const {
  int n = 0;
  for (std::size_t i = 1; i < s_.history.size(); ++i) {
    if (s_.history[i] != s_.history[i - 1]) ++n;
  }
  return n;
}

Tracker::Decision Tracker::observe(State state, WallTime now) {
  Decision d;
  d.previous = s_.state;
  const char letter = kLetter[static_cast<int>(state)];
  if (!s_.known) {
    // First result ever: an ok machine is not news, anything else is.
    s_.known = true;
    s_.state = state;
    s_.since = now;
    s_.history.assign(1, letter);
    if (state != State::ok) {
      d.notice = Notice::problem;
      s_.last_report = now;
    }
    return d;
  }

  d.changed = state != s_.state;
  s_.history.push_back(letter);
  if (s_.history.size() > static_cast<std::size_t>(kFlapWindow)) {
    s_.history.erase(0, s_.history.size() - kFlapWindow);
  }
  if (d.changed) {
    s_.state = state;
    s_.since = now;
  }
  d.changes = changesInHistory();

  if (s_.flapping) {
    // Quiet until the last kSettleRuns results agree; then one report says where it ended.
    // The history restarts there, or the old changes would count towards flapping again.
    const auto n = static_cast<std::size_t>(kSettleRuns);
    if (s_.history.size() >= n &&
        s_.history.find_first_not_of(letter, s_.history.size() - n) == std::string::npos) {
      s_.flapping = false;
      s_.history.assign(1, letter);
      d.notice = Notice::settled;
      s_.last_report = now;
    }
    return d;
  }
  if (d.changed && d.changes >= kFlapChanges) {
    s_.flapping = true;
    d.notice = Notice::flapping;
    s_.last_report = now;
    return d;
  }
  if (d.changed) {
    d.notice = state == State::ok ? Notice::recovery : Notice::problem;
    s_.last_report = now;
    return d;
  }
  if (state != State::ok && renotify_ && now - s_.last_report >= *renotify_) {
    d.notice = Notice::renotify;
    s_.last_report = now;
  }
  return d;
}

std::map<std::string, TrackerState> loadStates(const std::filesystem::path& file) {
  std::map<std::string, TrackerState> out;
  std::string text;
  try {
    text = readFileFrom(file);
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOENT) {
      spdlog::warn(
          "cannot read the state file: {}; starting without saved states (non-ok "
          "states are reported again)",
          e.what());
    }
    return out;
  }
  try {
    const auto j = nlohmann::json::parse(text);
    for (const auto& [name, v] : j.at("checks").items()) {
      TrackerState s;
      const auto state = parseState(v.at("state").get<std::string>());
      if (!state) throw std::runtime_error("check '" + name + "' has an unknown state");
      s.known = true;
      s.state = *state;
      s.since = fromMs(v.at("since_ms").get<std::int64_t>());
      s.last_report = fromMs(v.at("last_report_ms").get<std::int64_t>());
      s.flapping = v.at("flapping").get<bool>();
      s.history = v.at("history").get<std::string>();
      if (s.history.size() > static_cast<std::size_t>(kFlapWindow) ||
          s.history.find_first_not_of("OWCU") != std::string::npos) {
        throw std::runtime_error("check '" + name + "' has a malformed history");
      }
      out[name] = std::move(s);
    }
  } catch (const std::exception& e) {
    spdlog::warn(
        "state file {} is damaged ({}); starting without saved states (non-ok states "
        "are reported again)",
        file.string(), e.what());
    out.clear();
  }
  return out;
}

void saveStates(const std::filesystem::path& file, const std::map<std::string, TrackerState>& all) {
  nlohmann::json checks = nlohmann::json::object();
  for (const auto& [name, s] : all) {
    if (!s.known) continue;
    checks[name] = {{"state", lowerName(s.state)},
                    {"since_ms", toMs(s.since)},
                    {"last_report_ms", toMs(s.last_report)},
                    {"flapping", s.flapping},
                    {"history", s.history}};
  }
  const std::string text = nlohmann::json{{"version", 1}, {"checks", checks}}.dump() + "\n";
  const auto tmp = file.string() + ".tmp";
  // No fsync: losing the last second of states after a power cut costs a repeated report,
  // which is cheaper than a sync on every state change.
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp);
  const bool ok = writeAll(fd, text) == text.size();
  const int e = errno;
  close(fd);
  if (!ok) throw std::system_error(e, std::generic_category(), "write " + tmp);
  if (rename(tmp.c_str(), file.c_str()) != 0) {
    throw std::system_error(errno, std::generic_category(), "rename " + tmp);
  }
}

}  // namespace reporthub::inputs::check
