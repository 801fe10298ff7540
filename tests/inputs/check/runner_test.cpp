// Tests for inputs/check/runner.cpp: the runner with real plugin processes (small shell
// scripts in a temp dir) and built-ins, its reports collected from the submit callback.
// Intervals are 100-300 ms; every wait is for a condition, with a deadline.
#include "inputs/check/runner.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>
#include <functional>

using namespace reporthub;
using namespace reporthub::inputs::check;
using namespace std::chrono_literals;
namespace config = reporthub::config;

namespace {

// A shell script in the temp dir, executable.
std::string script(const test::TempDir& dir, const std::string& name, const std::string& body) {
  const auto p = dir.write(name, "#!/bin/sh\n" + body);
  chmod(p.c_str(), 0755);
  return p.string();
}

config::Check command(const std::string& name, std::vector<std::string> argv, Duration every,
                      Duration timeout) {
  config::Check c;
  c.name = name;
  c.probe = config::CommandCheck{std::move(argv), ""};
  c.every = every;
  c.timeout = timeout;
  c.category = "TEST";
  return c;
}

std::size_t lineCount(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

std::vector<long long> numbers(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<long long> out;
  for (long long v; in >> v;)
    out.push_back(v);
  return out;
}

// One runner and the reports it submitted.
struct Rig {
  config::CheckInput cfg;
  std::vector<Report> reports;
  std::unique_ptr<Runner> runner;
  std::filesystem::path state_file;

  void start(bool desk_on = true) {
    runner = std::make_unique<Runner>(cfg, RunnerOptions{"alpha", state_file, {}},
                                      [this](const Report& r) {
                                        reports.push_back(r);
                                        return true;
                                      });
    runner->start(desk_on);
  }
  // Steps the runner until `cond` holds; false if `timeout` passes first.
  bool until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
    std::vector<zmq::pollitem_t> none;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      runner->step(none, 20ms);
    }
    return true;
  }
  std::uint64_t finished() const { return runner->totals().finished; }
  // Waits for `n` more results.
  bool runs(std::uint64_t n) {
    const auto target = finished() + n;
    return until([&] { return finished() >= target; });
  }
  // Asks to stop and steps until every run has ended.
  bool stop() {
    runner->requestStop();
    return until([&] { return runner->finished(); });
  }
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& r : reports)
      out.push_back(r.text);
    return out;
  }
};

}  // namespace

TEST_CASE("check runner: exit codes 0-3 and a timeout map to states, only changes report",
          "[check]") {
  test::TempDir dir;
  const auto code = dir / "code";
  const auto plugin = script(dir, "plugin.sh",
                             "c=$(cat " + code.string() +
                                 ")\n"
                                 "if [ \"$c\" = hang ]; then exec sleep 30; fi\n"
                                 "echo \"state $c | v=$c\"\n"
                                 "exit $c\n");
  Rig rig;
  rig.cfg.checks.push_back(command("t", {plugin}, 200ms, 150ms));
  // Replaced in one step: a plugin never reads the empty file a truncating write leaves.
  auto set = [&](const std::string& c) {
    std::ofstream(code.string() + ".new") << c;
    std::filesystem::rename(code.string() + ".new", code);
  };
  set("0");
  rig.start();
  // Three results per state: the last two surely saw the new code, and the changes stay
  // below the flapping threshold.
  REQUIRE(rig.runs(3));
  CHECK(rig.reports.empty());  // a first ok run is not reported
  for (const char* c : {"1", "2", "hang", "0", "3"}) {
    set(c);
    REQUIRE(rig.runs(3));
  }
  REQUIRE(rig.stop());
  CHECK(rig.texts() == std::vector<std::string>{
                           "t: WARNING - state 1",
                           "t: CRITICAL - state 2",
                           "t: UNKNOWN - timed out after 150ms",
                           "t: OK - state 0",
                           "t: UNKNOWN - state 3",
                       });
  REQUIRE(rig.reports.size() == 5);
  const auto& w = rig.reports[0];
  CHECK(w.severity == Severity::warning);
  CHECK(w.source == "check");
  CHECK(w.origin == "alpha");
  CHECK(w.category == "TEST");
  CHECK(w.attrs.at("check") == "t");
  CHECK(w.attrs.at("state") == "warning");
  CHECK(w.attrs.at("previous_state") == "ok");
  CHECK(w.attrs.at("notice") == "problem");
  CHECK(w.attrs.at("exit_status") == "1");
  CHECK(w.attrs.at("perfdata") == "v=1");
  CHECK(w.attrs.at("probe") == "command");
  CHECK(rig.reports[1].severity == Severity::critical);
  CHECK(rig.reports[2].severity == Severity::error);
  CHECK(rig.reports[2].attrs.count("exit_status") == 0);
  CHECK(rig.reports[3].severity == Severity::info);
  CHECK(rig.reports[3].attrs.at("notice") == "recovery");
  CHECK(rig.reports[3].attrs.at("previous_state") == "unknown");
  CHECK(rig.runner->totals().timed_out >= 2);
}

TEST_CASE("check runner: a hanging check does not delay a fast one", "[check]") {
  test::TempDir dir;
  const auto times = dir / "times";
  Rig rig;
  rig.cfg.checks.push_back(command("hang", {"/bin/sleep", "30"}, 1s, 1s));
  rig.cfg.checks.push_back(command(
      "fast", {script(dir, "fast.sh", "date +%s%N >> " + times.string() + "\n")}, 200ms, 200ms));
  rig.start();
  // Until the hanging check has been killed twice: two whole hangs overlap the fast runs.
  REQUIRE(rig.until([&] { return rig.runner->totals().timed_out >= 2; }, 10s));
  REQUIRE(rig.stop());
  const auto t = numbers(times);
  REQUIRE(t.size() >= 8);
  long long worst = 0;
  for (std::size_t i = 1; i < t.size(); ++i)
    worst = std::max(worst, t[i] - t[i - 1]);
  INFO("largest gap between fast runs: " << worst / 1'000'000 << "ms");
  CHECK(worst < 600'000'000);  // every 200ms; a run held up by the hang would be 1s late
  CHECK(rig.texts() == std::vector<std::string>{"hang: UNKNOWN - timed out after 1s"});
  CHECK(rig.runner->totals().skipped == 0);
}

TEST_CASE("check runner: at most `concurrency` run at once, the others wait their turn",
          "[check]") {
  test::TempDir dir;
  Rig rig;
  rig.cfg.concurrency = 2;
  // First runs are spread over the interval: 0, 100, 200, 300ms, each taking 300ms.
  for (const char* name : {"a", "b", "c", "d"}) {
    rig.cfg.checks.push_back(command(name, {"/bin/sleep", "0.3"}, 400ms, 400ms));
  }
  rig.start();
  std::size_t most = 0;
  REQUIRE(rig.until([&] {
    most = std::max(most, rig.runner->runningNow());
    return rig.finished() >= 4;
  }));
  REQUIRE(rig.stop());
  CHECK(most == 2);
  // c and d waited about 100ms each for a place.
  CHECK(rig.runner->totals().lateness.max() >= 80ms);
}

TEST_CASE("check runner: a run still going when due again is skipped and counted", "[check]") {
  Rig rig;
  rig.cfg.concurrency = 1;
  // The slow check holds the only place; the fast one falls due again while still waiting.
  rig.cfg.checks.push_back(command("slow", {"/bin/sleep", "0.6"}, 10s, 1s));
  rig.cfg.checks.push_back(command("fast", {"/bin/true"}, 100ms, 100ms));
  rig.start();
  REQUIRE(rig.until(
      [&] { return rig.runner->totals().skipped >= 2 && rig.runner->totals().finished >= 2; }, 5s));
  REQUIRE(rig.stop());
  CHECK(rig.runner->totals().lateness.max() >= 300ms);
}

TEST_CASE("check runner: desk checks run only while the desk is on", "[check]") {
  test::TempDir dir;
  const auto desk_runs = dir / "desk", other_runs = dir / "other";
  Rig rig;
  rig.cfg.checks.push_back(command(
      "clock", {script(dir, "clock.sh", "echo x >> " + other_runs.string() + "\n")}, 100ms, 100ms));
  auto desk = command("desk", {script(dir, "desk.sh", "echo x >> " + desk_runs.string() + "\n")},
                      100ms, 100ms);
  desk.desk = true;
  rig.cfg.checks.push_back(desk);
  // The other check is the clock: "n of its runs passed" instead of a sleep.
  auto otherRuns = [&](std::size_t n) {
    const auto target = lineCount(other_runs) + n;
    return rig.until([&] { return lineCount(other_runs) >= target; });
  };

  rig.start(false);
  REQUIRE(otherRuns(5));
  CHECK(lineCount(desk_runs) == 0);

  rig.runner->setDesk(true);
  REQUIRE(rig.until([&] { return lineCount(desk_runs) >= 3; }));

  rig.runner->setDesk(false);
  REQUIRE(otherRuns(2));  // a desk run in progress at DeskOff may still end
  const auto paused_at = lineCount(desk_runs);
  REQUIRE(otherRuns(5));
  CHECK(lineCount(desk_runs) == paused_at);

  rig.runner->setDesk(true);
  REQUIRE(rig.until([&] { return lineCount(desk_runs) >= paused_at + 2; }));
  REQUIRE(rig.stop());
}

TEST_CASE("check runner: a stop lets the running check finish and report", "[check]") {
  test::TempDir dir;
  const auto started = dir / "started";
  Rig rig;
  rig.cfg.checks.push_back(
      command("slow",
              {script(dir, "slow.sh",
                      "touch " + started.string() + "\nsleep 0.5\necho 'done late'\nexit 2\n")},
              10s, 5s));
  rig.cfg.checks.push_back(command("idle", {"/bin/true"}, 10s, 5s));
  rig.start();
  REQUIRE(rig.until([&] { return std::filesystem::exists(started); }));
  const auto t0 = std::chrono::steady_clock::now();
  rig.runner->requestStop();
  CHECK(!rig.runner->finished());
  REQUIRE(rig.until([&] { return rig.runner->finished(); }));
  CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);  // it waited for the run
  CHECK(rig.texts() == std::vector<std::string>{"slow: CRITICAL - done late"});
  // Nothing new starts once stopping; the idle check may have run once before.
  const auto started_runs = rig.runner->totals().started;
  std::vector<zmq::pollitem_t> none;
  rig.runner->step(none, 50ms);
  CHECK(rig.runner->totals().started == started_runs);
}

TEST_CASE("check runner: saved states are not reported again by the next process", "[check]") {
  test::TempDir dir;
  const auto code = dir / "code";
  std::ofstream(code) << "2";
  const auto plugin =
      script(dir, "p.sh", "c=$(cat " + code.string() + ")\necho \"state $c\"\nexit $c\n");
  auto make = [&] {
    Rig rig;
    rig.state_file = dir / "check.state";
    rig.cfg.checks.push_back(command("p", {plugin}, 200ms, 200ms));
    return rig;
  };
  {
    Rig first = make();
    first.start();
    REQUIRE(first.runs(2));
    REQUIRE(first.stop());
    first.runner->logSummary(true);  // saves
    CHECK(first.texts() == std::vector<std::string>{"p: CRITICAL - state 2"});
  }
  Rig second = make();
  second.start();
  REQUIRE(second.runs(3));
  CHECK(second.reports.empty());
  std::ofstream(code.string() + ".new") << "0";
  std::filesystem::rename(code.string() + ".new", code);
  REQUIRE(second.until([&] { return !second.reports.empty(); }));
  REQUIRE(second.stop());
  CHECK(second.texts() == std::vector<std::string>{"p: OK - state 0"});
  CHECK(second.reports[0].attrs.at("previous_state") == "critical");
}

TEST_CASE("check runner: a command that cannot start is UNKNOWN with the reason", "[check]") {
  Rig rig;
  rig.cfg.checks.push_back(command("gone", {"/nonexistent/check_gone"}, 200ms, 200ms));
  rig.start();
  REQUIRE(rig.runs(2));
  REQUIRE(rig.stop());
  CHECK(rig.texts() == std::vector<std::string>{
                           "gone: UNKNOWN - cannot execute /nonexistent/check_gone: No such file "
                           "or directory"});
}

TEST_CASE("check runner: built-in checks run on workers and report like plugins", "[check]") {
  test::TempDir dir;
  const auto file = dir / "heartbeat";
  Rig rig;
  config::Check c;
  c.name = "beat";
  c.probe = config::FileCheck{file, {}, {}, {}, {}};
  c.every = 100ms;
  c.timeout = 100ms;
  c.category = "APP";
  rig.cfg.checks.push_back(c);
  config::Check q;
  q.name = "queue";
  q.probe = config::QueueCheck{dir.path(), 100, 200};
  q.every = 100ms;
  q.timeout = 100ms;
  rig.cfg.checks.push_back(q);
  rig.start();
  REQUIRE(rig.until([&] { return !rig.reports.empty(); }));
  dir.write("heartbeat", "x");
  REQUIRE(rig.until([&] { return rig.reports.size() >= 2; }));
  REQUIRE(rig.runs(2));
  REQUIRE(rig.stop());
  REQUIRE(rig.reports.size() == 2);
  CHECK(rig.reports[0].text == "beat: CRITICAL - " + file.string() + " does not exist");
  CHECK(rig.reports[0].category == "APP");
  CHECK(rig.reports[0].attrs.at("probe") == "file");
  CHECK(rig.reports[1].text.find("beat: OK - " + file.string() + ": 1 B, modified ") == 0);
  CHECK(rig.reports[1].attrs.at("notice") == "recovery");
}
