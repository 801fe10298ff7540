// Tests for inputs/check/state.cpp: the per-check report decision (state changes, recovery,
// renotify, flapping and settling) against hand-made wall-clock times, and the state file.
#include "inputs/check/state.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

using namespace reporthub;
using namespace reporthub::inputs::check;
using namespace std::chrono_literals;

namespace {

const WallTime t0 = WallTime{} + std::chrono::hours(500000);

// Feeds states one minute apart and returns the notices.
std::vector<Notice> feed(Tracker& t, const std::vector<State>& states, WallTime& now) {
  std::vector<Notice> out;
  for (State s : states) {
    out.push_back(t.observe(s, now).notice);
    now += 1min;
  }
  return out;
}

constexpr State O = State::ok, W = State::warning, C = State::critical, U = State::unknown;
constexpr Notice N = Notice::none;

}  // namespace

TEST_CASE("check state: only changes of state report, any to ok is a recovery", "[check]") {
  Tracker t;
  WallTime now = t0;
  SECTION("a first ok run is not news") {
    CHECK(feed(t, {O, O, O}, now) == std::vector<Notice>{N, N, N});
  }
  SECTION("a first non-ok run is") {
    CHECK(feed(t, {C, C}, now) == std::vector<Notice>{Notice::problem, N});
  }
  SECTION("ok, warning, critical, ok") {
    CHECK(feed(t, {O, W, W, C, C, O, O}, now) ==
          std::vector<Notice>{N, Notice::problem, N, Notice::problem, N, Notice::recovery, N});
  }
  SECTION("unknown to ok is a recovery too, and previous states are given") {
    t.observe(O, now);
    auto d = t.observe(U, now + 1min);
    CHECK(d.notice == Notice::problem);
    CHECK(d.previous == O);
    CHECK(d.changed);
    d = t.observe(O, now + 2min);
    CHECK(d.notice == Notice::recovery);
    CHECK(d.previous == U);
  }
  CHECK(t.state().known);
}

TEST_CASE("check state: renotify repeats a non-ok state, never ok", "[check]") {
  Tracker t(1h);
  CHECK(t.observe(C, t0).notice == Notice::problem);
  CHECK(t.observe(C, t0 + 59min).notice == Notice::none);
  CHECK(t.observe(C, t0 + 60min).notice == Notice::renotify);
  CHECK(t.observe(C, t0 + 61min).notice == Notice::none);
  CHECK(t.observe(C, t0 + 120min).notice == Notice::renotify);
  CHECK(t.observe(O, t0 + 121min).notice == Notice::recovery);
  CHECK(t.observe(O, t0 + 500min).notice == Notice::none);
  // A new problem starts its own renotify clock.
  CHECK(t.observe(W, t0 + 501min).notice == Notice::problem);
  CHECK(t.observe(W, t0 + 560min).notice == Notice::none);
  CHECK(t.observe(W, t0 + 561min).notice == Notice::renotify);
}

TEST_CASE("check state: a flapping check is reported once, then once when it settles", "[check]") {
  Tracker t(1min);  // renotify would fire on every run below if flapping did not silence it
  WallTime now = t0;
  // Four changes are reported one by one; the fifth within ten runs is flapping.
  CHECK(feed(t, {O, C, O, C, O}, now) == std::vector<Notice>{N, Notice::problem, Notice::recovery,
                                                             Notice::problem, Notice::recovery});
  auto d = t.observe(C, now);
  now += 1min;
  CHECK(d.notice == Notice::flapping);
  CHECK(d.changes == 5);
  CHECK(t.state().flapping);
  // Quiet while it keeps changing, and while it has not been steady for five runs.
  CHECK(feed(t, {O, C, O, W, W, W, W}, now) == std::vector<Notice>{N, N, N, N, N, N, N});
  CHECK(t.state().flapping);
  // The fifth equal run settles it, with the state it settled in.
  d = t.observe(W, now);
  now += 1min;
  CHECK(d.notice == Notice::settled);
  CHECK(!t.state().flapping);
  CHECK(t.state().state == W);
  // After settling, the old changes no longer count: one change is one report again.
  CHECK(feed(t, {O, W}, now) == std::vector<Notice>{Notice::recovery, Notice::problem});
}

TEST_CASE("check state: changes spread over more than ten runs are not flapping", "[check]") {
  Tracker t;
  WallTime now = t0;
  std::vector<State> seq;
  for (int i = 0; i < 5; ++i) {
    seq.insert(seq.end(), {O, O, O, C, C, C});  // at most 4 changes in any ten runs
  }
  int flapping = 0, reports = 0;
  for (State s : seq) {
    auto d = t.observe(s, now);
    now += 1min;
    flapping += d.notice == Notice::flapping;
    reports += d.notice != Notice::none;
  }
  CHECK(flapping == 0);
  CHECK(reports == 9);  // every change
}

TEST_CASE("check state: a saved state is not reported again after a restart", "[check]") {
  Tracker before(1h);
  CHECK(before.observe(C, t0).notice == Notice::problem);

  Tracker after(1h, before.state());
  CHECK(after.observe(C, t0 + 10min).notice == Notice::none);
  // Renotify counts from the report before the restart.
  CHECK(after.observe(C, t0 + 60min).notice == Notice::renotify);

  Tracker recovered(1h, before.state());
  CHECK(recovered.observe(O, t0 + 5min).notice == Notice::recovery);
}

TEST_CASE("check state file: round trip, missing and damaged files", "[check]") {
  test::TempDir dir;
  const auto file = dir / "check.state";
  CHECK(loadStates(file).empty());

  Tracker a, b;
  WallTime now = t0;
  feed(a, {O, C, O, C}, now);
  feed(b, {W}, now);
  std::map<std::string, TrackerState> all{
      {"root-disk", a.state()}, {"mail-queue", b.state()}, {"never-ran", TrackerState{}}};
  saveStates(file, all);
  auto back = loadStates(file);
  CHECK(back.size() == 2);  // a check that never ran has nothing to save
  CHECK(back["root-disk"] == a.state());
  CHECK(back["mail-queue"] == b.state());
  CHECK(!std::filesystem::exists(file.string() + ".tmp"));

  std::ofstream(file) << "{\"version\":1,\"checks\":{\"x\":{\"state\":\"sideways\"}}}";
  CHECK(loadStates(file).empty());
  std::ofstream(file) << "not json";
  CHECK(loadStates(file).empty());
  CHECK_THROWS_AS(saveStates(dir / "missing-dir/check.state", all), std::system_error);
}

TEST_CASE("check state names and severities", "[check]") {
  CHECK(upperName(C) == "CRITICAL");
  CHECK(lowerName(U) == "unknown");
  CHECK(parseState("warning") == W);
  CHECK(!parseState("WARNING"));
  CHECK(severityOf(O) == Severity::info);
  CHECK(severityOf(W) == Severity::warning);
  CHECK(severityOf(C) == Severity::critical);
  CHECK(severityOf(U) == Severity::error);
}
