// Tests for hub/supervisor.cpp: the state x event table driven with a fake SupervisorActions
// (records spawns and signals, hands out fake pids) and hand-made time points, so no
// process is started and nothing sleeps.
#include "hub/supervisor.h"

#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

using namespace reporthub;
using namespace reporthub::hub;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;
constexpr Duration kKillTimeout = 5s;

class FakeActions : public SupervisorActions {
 public:
  pid_t spawn(const ProcessSpec& spec) override {
    spawned.push_back(spec.id);
    if (fail_next > 0) {
      --fail_next;
      errno = EAGAIN;
      return -1;
    }
    return next_pid++;
  }
  void signalGroup(pid_t pid, int sig) override { signals.emplace_back(pid, sig); }

  std::vector<std::string> spawned;
  std::vector<std::pair<pid_t, int>> signals;
  pid_t next_pid = 1000;
  int fail_next = 0;  // how many of the next spawns fail
};

// Wait statuses as waitpid() reports them.
int exitStatus(int code) {
  return (code & 0xff) << 8;
}
int killedBy(int sig) {
  return sig & 0x7f;
}

ProcessSpec spec(std::string id, wire::Kind kind = wire::Kind::input,
                 config::RestartPolicy restart = {}) {
  ProcessSpec s;
  s.id = id;
  s.role = "testproc";
  s.kind = kind;
  s.restart = restart;
  return s;
}

// Keeps the supervisor's logging out of the test output, and puts the level back after.
class QuietLog {
 public:
  QuietLog() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~QuietLog() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

struct Fixture {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup{actions, kKillTimeout};
  std::vector<std::pair<State, State>> changes;  // (from, to) for "p"

  Fixture() {
    sup.on_change = [this](const Process& p, State from) {
      if (p.spec.id == "p") changes.emplace_back(from, p.state);
    };
    sup.add(spec("p"));
  }
  const Process& p() const {
    const Process* found = sup.find("p");
    REQUIRE(found != nullptr);
    return *found;
  }
  // Starts "p" at t0 and has it say ready at t0 + 1s.
  void running() {
    sup.start("p", t0);
    REQUIRE(sup.ready("p", p().pid, t0 + 1s));
    REQUIRE(p().state == State::running);
  }
};

}  // namespace

TEST_CASE("wait statuses are described as the operator reads them", "[supervisor]") {
  REQUIRE(WIFEXITED(exitStatus(3)));
  REQUIRE(WIFSIGNALED(killedBy(SIGKILL)));
  CHECK(describeWaitStatus(exitStatus(0)) == "exit 0");
  CHECK(describeWaitStatus(exitStatus(1)) == "exit 1");
  CHECK(describeWaitStatus(exitStatus(255)) == "exit 255");
  CHECK_THAT(describeWaitStatus(killedBy(SIGKILL)), Catch::Matchers::StartsWith("signal 9 ("));
  CHECK_THAT(describeWaitStatus(killedBy(SIGSEGV)), Catch::Matchers::StartsWith("signal 11 ("));
  CHECK(toString(State::stopped) == "stopped");
  CHECK(toString(State::starting) == "starting");
  CHECK(toString(State::running) == "running");
  CHECK(toString(State::stopping) == "stopping");
  CHECK(toString(State::backoff) == "backoff");
}

TEST_CASE_METHOD(Fixture, "a process is stopped until started", "[supervisor]") {
  CHECK(p().state == State::stopped);
  CHECK(p().pid == 0);
  CHECK(actions.spawned.empty());
  CHECK_FALSE(sup.nextDeadline().has_value());
  sup.tick(t0 + 1h);
  CHECK(actions.spawned.empty());
}

TEST_CASE_METHOD(Fixture, "start spawns the process and waits for ready", "[supervisor]") {
  sup.start("p", t0);
  CHECK(actions.spawned == std::vector<std::string>{"p"});
  CHECK(p().state == State::starting);
  CHECK(p().pid == 1000);
  CHECK(p().started == t0);
  CHECK(p().restarts == 0);
  CHECK(sup.nextDeadline() == t0 + Supervisor::kReadyTimeout);
  CHECK(sup.findPid(1000) == &p());
  CHECK(changes == std::vector<std::pair<State, State>>{{State::stopped, State::starting}});

  SECTION("a second start does not spawn twice") {
    sup.start("p", t0 + 1s);
    CHECK(actions.spawned.size() == 1);
  }
  SECTION("starting an unknown id does nothing") {
    sup.start("nope", t0);
    CHECK(actions.spawned.size() == 1);
  }
}

TEST_CASE_METHOD(Fixture, "ready moves starting to running", "[supervisor]") {
  sup.start("p", t0);
  CHECK_FALSE(sup.ready("p", 999, t0 + 1s));  // another pid: a stale instance
  CHECK_FALSE(sup.ready("other", 1000, t0 + 1s));
  CHECK(p().state == State::starting);

  CHECK(sup.ready("p", 1000, t0 + 1s));
  CHECK(p().state == State::running);
  CHECK(p().ready_at == t0 + 1s);
  CHECK_FALSE(sup.nextDeadline().has_value());
  CHECK_FALSE(sup.ready("p", 1000, t0 + 2s));  // already running
  // A running process has no deadline: the ready timeout no longer applies.
  sup.tick(t0 + 1h);
  CHECK(actions.signals.empty());
  CHECK(p().state == State::running);
}

TEST_CASE_METHOD(Fixture, "an abnormal exit goes to backoff, then restarts", "[supervisor]") {
  running();
  const TimePoint crash = t0 + 2s;
  CHECK(sup.exited(1000, exitStatus(1), crash));
  CHECK(p().state == State::backoff);
  CHECK(p().pid == 0);
  CHECK(p().last_exit == "exit 1");
  CHECK(p().deadline == crash + 100ms);
  CHECK(sup.nextDeadline() == crash + 100ms);
  CHECK(sup.findPid(1000) == nullptr);
  CHECK(sup.noneAlive());  // backoff: nothing is running

  sup.tick(crash + 99ms);
  CHECK(actions.spawned.size() == 1);
  CHECK(p().state == State::backoff);

  sup.tick(crash + 100ms);
  CHECK(actions.spawned.size() == 2);
  CHECK(p().state == State::starting);
  CHECK(p().pid == 1001);
  CHECK(p().restarts == 1);
  CHECK(p().started == crash + 100ms);
  CHECK(p().last_exit == "exit 1");  // kept for status until the next exit
  CHECK(changes == std::vector<std::pair<State, State>>{{State::stopped, State::starting},
                                                        {State::starting, State::running},
                                                        {State::running, State::backoff},
                                                        {State::backoff, State::starting}});
}

TEST_CASE_METHOD(Fixture, "death by signal is abnormal too", "[supervisor]") {
  running();
  CHECK(sup.exited(1000, killedBy(SIGSEGV), t0 + 2s));
  CHECK(p().state == State::backoff);
  CHECK_THAT(p().last_exit, Catch::Matchers::StartsWith("signal 11"));
  sup.tick(t0 + 2s + 100ms);
  CHECK(p().state == State::starting);
  CHECK(p().restarts == 1);
}

TEST_CASE_METHOD(Fixture, "a crash before ready is handled like any crash", "[supervisor]") {
  sup.start("p", t0);
  CHECK(sup.exited(1000, exitStatus(2), t0 + 10ms));
  CHECK(p().state == State::backoff);
  CHECK(p().deadline == t0 + 110ms);
}

TEST_CASE_METHOD(Fixture, "a clean exit nobody asked for stops, without restart", "[supervisor]") {
  running();
  CHECK(sup.exited(1000, exitStatus(0), t0 + 2s));
  CHECK(p().state == State::stopped);
  CHECK(p().pid == 0);
  CHECK(p().last_exit == "exit 0");
  CHECK_FALSE(sup.nextDeadline().has_value());
  sup.tick(t0 + 1h);
  CHECK(actions.spawned.size() == 1);
  CHECK(p().restarts == 0);
  // It can be started again on purpose.
  sup.start("p", t0 + 2h);
  CHECK(actions.spawned.size() == 2);
  CHECK(p().state == State::starting);
}

TEST_CASE_METHOD(Fixture, "stop sends SIGTERM to the group, then SIGKILL after kill_timeout",
                 "[supervisor]") {
  running();
  const TimePoint stop = t0 + 10s;
  sup.stop("p", stop);
  CHECK(actions.signals == std::vector<std::pair<pid_t, int>>{{1000, SIGTERM}});
  CHECK(p().state == State::stopping);
  CHECK_FALSE(p().killed);
  CHECK(sup.nextDeadline() == stop + kKillTimeout);

  sup.tick(stop + kKillTimeout - 1ms);
  CHECK(actions.signals.size() == 1);

  sup.tick(stop + kKillTimeout);
  CHECK(actions.signals == std::vector<std::pair<pid_t, int>>{{1000, SIGTERM}, {1000, SIGKILL}});
  CHECK(p().killed);
  CHECK(p().state == State::stopping);
  CHECK_FALSE(sup.nextDeadline().has_value());  // nothing more to time out

  sup.tick(stop + kKillTimeout + 1s);  // no second SIGKILL
  CHECK(actions.signals.size() == 2);

  CHECK(sup.exited(1000, killedBy(SIGKILL), stop + kKillTimeout + 2s));
  CHECK(p().state == State::stopped);
  CHECK(p().pid == 0);
  sup.tick(stop + 1h);
  CHECK(actions.spawned.size() == 1);  // killed on request: never restarted
  CHECK(p().restarts == 0);
}

TEST_CASE_METHOD(Fixture, "the kill timeout follows setKillTimeout", "[supervisor]") {
  sup.setKillTimeout(200ms);
  running();
  sup.stop("p", t0 + 10s);
  CHECK(sup.nextDeadline() == t0 + 10s + 200ms);
  sup.tick(t0 + 10s + 200ms);
  CHECK(actions.signals.back() == std::make_pair(pid_t{1000}, SIGKILL));
}

TEST_CASE_METHOD(Fixture, "any exit while stopping is final", "[supervisor]") {
  running();
  sup.stop("p", t0 + 10s);
  const int status = GENERATE(exitStatus(0), exitStatus(1), killedBy(SIGTERM), killedBy(SIGSEGV));
  CHECK(sup.exited(1000, status, t0 + 11s));
  CHECK(p().state == State::stopped);
  CHECK_FALSE(sup.nextDeadline().has_value());
  sup.tick(t0 + 1h);
  CHECK(actions.spawned.size() == 1);
  CHECK(actions.signals.size() == 1);  // no SIGKILL for a process already gone
  CHECK(p().restarts == 0);
}

TEST_CASE_METHOD(Fixture, "stop during backoff cancels the restart", "[supervisor]") {
  running();
  sup.exited(1000, exitStatus(1), t0 + 2s);
  REQUIRE(p().state == State::backoff);
  sup.stop("p", t0 + 2s + 50ms);
  CHECK(p().state == State::stopped);
  CHECK(actions.signals.empty());  // there is no process to signal
  CHECK_FALSE(sup.nextDeadline().has_value());
  sup.tick(t0 + 1h);
  CHECK(actions.spawned.size() == 1);
}

TEST_CASE_METHOD(Fixture, "kill sends SIGKILL at once", "[supervisor]") {
  SECTION("from running") {
    running();
    sup.kill("p", t0 + 2s);
    CHECK(actions.signals == std::vector<std::pair<pid_t, int>>{{1000, SIGKILL}});
    CHECK(p().state == State::stopping);
    CHECK(p().killed);
    CHECK_FALSE(sup.nextDeadline().has_value());
    sup.tick(t0 + 1h);
    CHECK(actions.signals.size() == 1);
    sup.exited(1000, killedBy(SIGKILL), t0 + 1h);
    CHECK(p().state == State::stopped);
  }
  SECTION("after a stop, before the kill timeout") {
    running();
    sup.stop("p", t0 + 2s);
    sup.kill("p", t0 + 3s);
    CHECK(actions.signals == std::vector<std::pair<pid_t, int>>{{1000, SIGTERM}, {1000, SIGKILL}});
    sup.tick(t0 + 1h);  // the kill timeout passes: no second SIGKILL
    CHECK(actions.signals.size() == 2);
  }
  SECTION("in backoff: just stopped") {
    running();
    sup.exited(1000, exitStatus(1), t0 + 2s);
    sup.kill("p", t0 + 2s);
    CHECK(p().state == State::stopped);
    CHECK(actions.signals.empty());
  }
}

TEST_CASE_METHOD(Fixture, "no ready within kReadyTimeout: SIGKILL, then crash handling",
                 "[supervisor]") {
  sup.start("p", t0);
  sup.tick(t0 + Supervisor::kReadyTimeout - 1ms);
  CHECK(actions.signals.empty());

  sup.tick(t0 + Supervisor::kReadyTimeout);
  CHECK(actions.signals == std::vector<std::pair<pid_t, int>>{{1000, SIGKILL}});
  CHECK(p().killed);
  CHECK(p().state == State::starting);  // until the exit is reaped

  SECTION("the SIGKILL exit is a crash: backoff and restart") {
    const TimePoint reaped = t0 + Supervisor::kReadyTimeout + 1ms;
    CHECK(sup.exited(1000, killedBy(SIGKILL), reaped));
    CHECK(p().state == State::backoff);
    CHECK(p().deadline == reaped + 100ms);
    sup.tick(reaped + 100ms);
    CHECK(p().state == State::starting);
    CHECK(p().pid == 1001);
    CHECK(p().restarts == 1);
    CHECK_FALSE(p().killed);
  }
  SECTION("even a status-0 exit of the killed child counts as a crash") {
    CHECK(sup.exited(1000, exitStatus(0), t0 + Supervisor::kReadyTimeout + 1ms));
    CHECK(p().state == State::backoff);
  }
}

// After the ready-timeout SIGKILL only the exit moves the process on: further ticks send
// nothing, and no past deadline is left to turn the hub's poll timeout into a busy loop.
TEST_CASE_METHOD(Fixture, "the ready-timeout SIGKILL is sent once and leaves no past deadline",
                 "[supervisor]") {
  sup.start("p", t0);
  const TimePoint kill_at = t0 + Supervisor::kReadyTimeout;
  sup.tick(kill_at);
  REQUIRE(actions.signals.size() == 1);
  sup.tick(kill_at + 1ms);
  sup.tick(kill_at + 2ms);
  CHECK(actions.signals.size() == 1);
  const auto next = sup.nextDeadline();
  CHECK((!next || *next > kill_at + 2ms));
}

TEST_CASE_METHOD(Fixture, "a failed spawn goes to backoff and is retried", "[supervisor]") {
  actions.fail_next = 1;
  sup.start("p", t0);
  CHECK(actions.spawned.size() == 1);
  CHECK(p().state == State::backoff);
  CHECK(p().pid == 0);
  CHECK_THAT(p().last_exit, Catch::Matchers::StartsWith("spawn failed"));
  CHECK(p().deadline == t0 + 100ms);
  CHECK(sup.findPid(-1) == nullptr);
  CHECK_FALSE(sup.exited(-1, exitStatus(1), t0));
  CHECK(sup.noneAlive());

  sup.tick(t0 + 100ms);
  CHECK(actions.spawned.size() == 2);
  CHECK(p().state == State::starting);
  CHECK(p().pid == 1000);
  CHECK(p().restarts == 1);
}

TEST_CASE_METHOD(Fixture, "repeated spawn failures follow the restart policy", "[supervisor]") {
  actions.fail_next = 100;
  sup.start("p", t0);
  std::vector<long long> retry_at;  // ms after t0
  for (int k = 0; k < 5; ++k) {
    REQUIRE(p().state == State::backoff);
    const TimePoint at = p().deadline;
    retry_at.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(at - t0).count());
    sup.tick(at);
  }
  // 100ms, +200ms, +400ms, then one try per then_every (30m) after the last.
  CHECK(retry_at == std::vector<long long>{100, 300, 700, 700 + 1'800'000, 700 + 3'600'000});
  CHECK(p().restarts == 5);
}

TEST_CASE("exited for a pid that is not ours is refused", "[supervisor]") {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  sup.add(spec("p"));
  sup.start("p", t0);
  CHECK_FALSE(sup.exited(4242, exitStatus(1), t0 + 1s));
  CHECK_FALSE(sup.exited(0, exitStatus(1), t0 + 1s));
  CHECK(sup.find("p")->state == State::starting);
  CHECK(sup.find("nope") == nullptr);
}

TEST_CASE("nextDeadline is the earliest pending deadline", "[supervisor]") {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  for (const char* id : {"a", "b", "c", "d"})
    sup.add(spec(id));
  CHECK_FALSE(sup.nextDeadline().has_value());

  sup.start("a", t0);  // starting: ready by t0 + 10s  (pid 1000)
  CHECK(sup.nextDeadline() == t0 + 10s);
  sup.start("b", t0);  // pid 1001
  sup.ready("b", 1001, t0);
  CHECK(sup.nextDeadline() == t0 + 10s);  // running has no deadline
  sup.start("c", t0);                     // pid 1002, stopping: kill at t0 + 1s + 5s
  sup.ready("c", 1002, t0);
  sup.stop("c", t0 + 1s);
  CHECK(sup.nextDeadline() == t0 + 6s);
  sup.start("d", t0);  // pid 1003, backoff: restart at t0 + 2s + 100ms
  sup.exited(1003, exitStatus(1), t0 + 2s);
  CHECK(sup.nextDeadline() == t0 + 2s + 100ms);

  sup.tick(t0 + 2s + 100ms);  // d restarts: ready by t0 + 2.1s + 10s
  CHECK(sup.nextDeadline() == t0 + 6s);
  sup.tick(t0 + 6s);  // c gets SIGKILL: no further deadline for it
  CHECK(sup.nextDeadline() == t0 + 10s);
  sup.ready("a", 1000, t0 + 7s);
  CHECK(sup.nextDeadline() == t0 + 12s + 100ms);
}

TEST_CASE("noneAlive looks at starting, running and stopping processes of a kind", "[supervisor]") {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  sup.add(spec("in", wire::Kind::input));
  sup.add(spec("out", wire::Kind::output));
  CHECK(sup.noneAlive());
  CHECK(sup.noneAlive(wire::Kind::input));
  CHECK(sup.noneAlive(wire::Kind::output));

  sup.start("out", t0);  // starting counts as alive (pid 1000)
  CHECK_FALSE(sup.noneAlive());
  CHECK_FALSE(sup.noneAlive(wire::Kind::output));
  CHECK(sup.noneAlive(wire::Kind::input));

  sup.start("in", t0);  // pid 1001
  sup.ready("in", 1001, t0);
  CHECK_FALSE(sup.noneAlive(wire::Kind::input));
  sup.stop("in", t0 + 1s);  // stopping is still alive
  CHECK_FALSE(sup.noneAlive(wire::Kind::input));
  sup.exited(1001, exitStatus(0), t0 + 2s);
  CHECK(sup.noneAlive(wire::Kind::input));
  CHECK_FALSE(sup.noneAlive());

  sup.exited(1000, exitStatus(1), t0 + 2s);  // backoff: nothing running right now
  CHECK(sup.find("out")->state == State::backoff);
  CHECK(sup.noneAlive(wire::Kind::output));
  CHECK(sup.noneAlive());
}

TEST_CASE("remove forgets a stopped process", "[supervisor]") {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  sup.add(spec("p"));
  sup.add(spec("q"));
  sup.remove("p");
  CHECK(sup.find("p") == nullptr);
  CHECK(sup.processes().size() == 1);
  sup.start("p", t0);
  CHECK(actions.spawned.empty());
}

TEST_CASE("the restart policy of each process is its own spec's", "[supervisor][restart]") {
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  config::RestartPolicy never_quick;
  never_quick.immediate = 0;
  never_quick.then_every = 1min;
  sup.add(spec("slow", wire::Kind::input, never_quick));
  sup.add(spec("fast"));
  sup.start("slow", t0);  // pid 1000
  sup.start("fast", t0);  // pid 1001
  sup.exited(1000, exitStatus(1), t0 + 1s);
  sup.exited(1001, exitStatus(1), t0 + 1s);
  CHECK(sup.find("slow")->deadline == t0 + 1s + 1min);
  CHECK(sup.find("fast")->deadline == t0 + 1s + 100ms);
}

TEST_CASE("a crash loop is throttled at exact times", "[supervisor][restart]") {
  // immediate 3, window 10s, then_every 1s; every instance dies 10ms after it is spawned.
  QuietLog quiet;
  FakeActions actions;
  Supervisor sup(actions, kKillTimeout);
  config::RestartPolicy policy;
  policy.immediate = 3;
  policy.window = 10s;
  policy.then_every = 1s;
  sup.add(spec("crashy", wire::Kind::input, policy));

  sup.start("crashy", t0);
  std::vector<long long> restarts;  // ms after t0
  for (int crash = 1; crash <= 20; ++crash) {
    const Process& p = *sup.find("crashy");
    REQUIRE(p.state == State::starting);
    REQUIRE(sup.exited(p.pid, exitStatus(1), p.started + 10ms));
    REQUIRE(p.state == State::backoff);
    const TimePoint at = *sup.nextDeadline();
    sup.tick(at - 1ms);  // nothing happens early
    REQUIRE(p.state == State::backoff);
    sup.tick(at);
    REQUIRE(p.state == State::starting);
    restarts.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(at - t0).count());
  }
  // Crash at 10ms -> +100ms; 120 -> +200; 330 -> +400; then one per second after the last
  // restart, never three quick ones again while it keeps crashing.
  const std::vector<long long> expected = {110,   320,   730,   1730,  2730,  3730,  4730,
                                           5730,  6730,  7730,  8730,  9730,  10730, 11730,
                                           12730, 13730, 14730, 15730, 16730, 17730};
  CHECK(restarts == expected);
  CHECK(sup.find("crashy")->restarts == 20);
  CHECK(actions.spawned.size() == 21);
  CHECK(actions.signals.empty());
}
