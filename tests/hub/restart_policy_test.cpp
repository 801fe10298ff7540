// Tests for hub/restart_policy.cpp against hand-made time points: a few quick restarts with a
// growing pause, then one try per then_every, and immediate restarts back only after the
// process stayed up for a whole window (DESIGN §1 "Supervision").
#include "hub/restart_policy.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::hub;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;  // far from the clock's epoch

config::RestartPolicy policy(int immediate, Duration window, Duration then_every) {
  config::RestartPolicy p;
  p.immediate = immediate;
  p.window = window;
  p.then_every = then_every;
  return p;
}

// Ms between two time points, for readable failure messages.
long long ms(TimePoint later, TimePoint earlier) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(later - earlier).count();
}

// A crash at `crash`: asks the policy, performs the restart at the time it gave, and
// returns that time.
TimePoint crashAndRestart(RestartPolicy& p, TimePoint crash) {
  const TimePoint at = p.nextRestart(crash);
  REQUIRE(at >= crash);
  p.restarted(at);
  return at;
}

}  // namespace

TEST_CASE("the defaults are immediate 3, window 10m, then_every 30m", "[restart]") {
  const config::RestartPolicy d;
  CHECK(d.immediate == 3);
  CHECK(d.window == 10min);
  CHECK(d.then_every == 30min);
}

TEST_CASE("the first immediate crashes restart after 100ms, 200ms, 400ms", "[restart]") {
  RestartPolicy p{config::RestartPolicy{}};
  // Each instance runs one second before it crashes.
  TimePoint crash = t0;
  TimePoint r1 = crashAndRestart(p, crash);
  CHECK(ms(r1, crash) == 100);
  CHECK_FALSE(p.throttled());
  crash = r1 + 1s;
  TimePoint r2 = crashAndRestart(p, crash);
  CHECK(ms(r2, crash) == 200);
  crash = r2 + 1s;
  TimePoint r3 = crashAndRestart(p, crash);
  CHECK(ms(r3, crash) == 400);
  CHECK_FALSE(p.throttled());
  CHECK(p.recent(r3) == 3);

  SECTION("the fourth waits then_every after the last restart") {
    crash = r3 + 1s;
    const TimePoint r4 = p.nextRestart(crash);
    CHECK(r4 == r3 + 30min);
    CHECK(p.throttled());
  }
  SECTION("a crash long after the last restart, still throttled, is not held back further") {
    // With a long window a crash can come after then_every has already passed since the
    // last restart: it is retried at once rather than waiting another then_every.
    RestartPolicy q{policy(1, 2h, 30min)};
    const TimePoint a = crashAndRestart(q, t0);
    CHECK(ms(a, t0) == 100);
    const TimePoint c = a + 45min;
    CHECK(q.nextRestart(c) == c);
    CHECK(q.throttled());
  }
}

TEST_CASE("the pause doubles with each immediate restart and is capped", "[restart]") {
  RestartPolicy p{policy(10, 10min, 30min)};
  TimePoint crash = t0;
  std::vector<long long> pauses;
  for (int k = 0; k < 10; ++k) {
    const TimePoint at = crashAndRestart(p, crash);
    pauses.push_back(ms(at, crash));
    crash = at + 10ms;
  }
  CHECK(pauses == std::vector<long long>{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000});
  CHECK_FALSE(p.throttled());
  // The eleventh inside the window is throttled.
  CHECK(p.nextRestart(crash) == crash - 10ms + 30min);
  CHECK(p.throttled());
}

TEST_CASE("throttled restarts come one per then_every after the last restart", "[restart]") {
  // then_every shorter than the window: a steady crash loop.
  RestartPolicy p{policy(3, 10s, 1s)};
  TimePoint crash = t0;
  TimePoint last{};
  for (int k = 0; k < 3; ++k) {
    last = crashAndRestart(p, crash);
    crash = last + 50ms;
  }
  for (int k = 0; k < 30; ++k) {
    const TimePoint at = crashAndRestart(p, crash);
    INFO("throttled restart " << k);
    CHECK(at == last + 1s);
    CHECK(p.throttled());
    last = at;
    crash = at + 50ms;
  }
  // Inside the window there are ten restarts at most: one per second.
  CHECK(p.recent(last) == 10);
}

TEST_CASE("with then_every longer than window a crash loop stays throttled", "[restart]") {
  RestartPolicy p{config::RestartPolicy{}};  // immediate 3, window 10m, then_every 30m
  TimePoint crash = t0;
  TimePoint last{};
  for (int k = 0; k < 3; ++k) {
    last = crashAndRestart(p, crash);
    crash = last + 1s;
  }
  // Crash right after each restart, many times over: every restart is 30m after the one
  // before, although by then the old restarts have all aged out of the 10m window. Never
  // three quick ones again.
  for (int k = 0; k < 10; ++k) {
    INFO("throttled restart " << k);
    const TimePoint at = p.nextRestart(crash);
    CHECK(at == last + 30min);
    CHECK(p.throttled());
    p.restarted(at);
    CHECK(p.recent(at) == 1);  // only itself is inside the window
    last = at;
    crash = at + 1s;
  }

  SECTION("a crash just under a window after the last restart is still throttled") {
    crash = last + 10min - 1ms;
    CHECK(p.nextRestart(crash) == last + 30min);
    CHECK(p.throttled());
  }

  SECTION("up for a whole window: immediate restarts come back, then throttling again") {
    crash = last + 10min;
    TimePoint at = crashAndRestart(p, crash);
    CHECK(ms(at, crash) == 100);
    CHECK_FALSE(p.throttled());
    crash = at + 1s;
    at = crashAndRestart(p, crash);
    CHECK(ms(at, crash) == 200);
    crash = at + 1s;
    at = crashAndRestart(p, crash);
    CHECK(ms(at, crash) == 400);
    CHECK_FALSE(p.throttled());
    crash = at + 1s;
    CHECK(p.nextRestart(crash) == at + 30min);
    CHECK(p.throttled());
  }
}

TEST_CASE("a process that recovers between crashes keeps its immediate restarts", "[restart]") {
  // One crash per 11 minutes never uses up the three restarts of a 10-minute window.
  RestartPolicy p{config::RestartPolicy{}};
  TimePoint crash = t0;
  for (int k = 0; k < 20; ++k) {
    const TimePoint at = crashAndRestart(p, crash);
    INFO("crash " << k);
    CHECK(ms(at, crash) == 100);
    CHECK_FALSE(p.throttled());
    crash = at + 11min;
  }
}

TEST_CASE("recent counts restarts inside the window", "[restart]") {
  RestartPolicy p{policy(3, 10s, 1s)};
  CHECK(p.recent(t0) == 0);
  p.restarted(t0);
  p.restarted(t0 + 4s);
  p.restarted(t0 + 8s);
  CHECK(p.recent(t0 + 9s) == 3);
  CHECK(p.recent(t0 + 10s) == 2);  // t0 is exactly one window old: out
  CHECK(p.recent(t0 + 14s) == 1);
  CHECK(p.recent(t0 + 18s) == 0);
}

TEST_CASE("immediate 0 means every restart is throttled", "[restart]") {
  RestartPolicy p{policy(0, 10s, 1min)};
  TimePoint crash = t0;
  TimePoint at = p.nextRestart(crash);
  CHECK(at == crash + 1min);
  CHECK(p.throttled());
  p.restarted(at);
  crash = at + 1s;
  CHECK(p.nextRestart(crash) == at + 1min);
  // Even after staying up far longer than a window, there is no quick restart.
  crash = at + 1h;
  at = p.nextRestart(crash);
  CHECK(at == crash + 1min);
  CHECK(p.throttled());
  p.restarted(at);
  crash = at + 1s;
  CHECK(p.nextRestart(crash) == at + 1min);
}
