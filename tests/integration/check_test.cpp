// The check input under a real hub (DESIGN §1 "check", issue 4): plugin states and timeouts
// in the operator log as state changes only, a hanging check beside a 1 s one, desk checks
// across hubctl deskoff/deskon, DMStop while a check runs, and a check process killed and
// restarted without repeating its reports. Plugins are small shell scripts in the temp dir.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <fstream>

using namespace reporthub::test;
using nlohmann::json;

namespace {

const std::string kRouting =
    "recipients: { operator: local }\n"
    "categories:\n  default: [operator]\n";

// An executable shell script in the hub's temp dir; returns its path.
std::string script(const Hub& hub, const std::string& name, const std::string& body) {
  const auto p = hub.dir() / name;
  writeFile(p, "#!/bin/sh\n" + body);
  chmod(p.c_str(), 0755);
  return p.string();
}

std::size_t lineCount(const std::filesystem::path& p) {
  return readLines(p).size();
}

// Operator-log lines holding `needle`.
std::size_t linesWith(const Hub& hub, const std::string& needle) {
  std::size_t n = 0;
  for (const auto& l : readLines(hub.operatorLog())) {
    if (l.find(needle) != std::string::npos) ++n;
  }
  return n;
}

// Waits until `file` has grown by `n` lines (a plugin appends one per run).
bool moreLines(const std::filesystem::path& file, std::size_t n,
               std::chrono::milliseconds timeout = 10s) {
  const auto target = lineCount(file) + n;
  return waitFor([&] { return lineCount(file) >= target; }, timeout);
}

// Replaces a file in one step: a plugin reading it meanwhile sees the old or the new text,
// never the empty file a truncating write leaves for a moment.
void replaceFile(const std::filesystem::path& p, const std::string& text) {
  writeFile(p.string() + ".new", text);
  std::filesystem::rename(p.string() + ".new", p);
}

bool alive(pid_t pid) {
  const auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

}  // namespace

TEST_CASE("check: plugin exit codes 0-3 and a timeout reach the operator log as state changes",
          "[check][integration]") {
  Hub hub;
  const auto code = hub.dir() / "code";
  const auto runs = hub.dir() / "runs";
  writeFile(code, "0");
  const auto plugin = script(hub, "plugin.sh",
                             "echo run >> " + runs.string() + "\nc=$(cat " + code.string() +
                                 ")\n"
                                 "if [ \"$c\" = hang ]; then exec sleep 30; fi\n"
                                 "echo \"state $c | v=$c\"\nexit $c\n");
  writeFile(hub.config(), readFile(hub.config()) + kRouting +
                              "inputs:\n  check:\n    checks:\n"
                              "      - { name: t, every: 400ms, timeout: 300ms, category: APP,"
                              " command: [" +
                              plugin + "] }\n");
  hub.start();
  REQUIRE(moreLines(runs, 3));
  CHECK(lineCount(hub.operatorLog()) == 0);  // ok at the first run: nothing to say

  // Each state is held for three runs or more, well below the flapping threshold.
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"1", "alpha APP warning t: WARNING - state 1"},
      {"2", "alpha APP critical t: CRITICAL - state 2"},
      {"hang", "alpha APP error t: UNKNOWN - timed out after 300ms"},
      {"0", "alpha APP info t: OK - state 0"},
      {"3", "alpha APP error t: UNKNOWN - state 3"},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    replaceFile(code, steps[i].first);
    INFO("step " << steps[i].first);
    REQUIRE(waitFor([&] { return linesWith(hub, steps[i].second) == 1; }));
    REQUIRE(moreLines(runs, 3));  // the same state again: no new line
    CHECK(lineCount(hub.operatorLog()) == i + 1);
  }
  const auto lines = readLines(hub.operatorLog());
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].find("{check=t, duration=") != std::string::npos);
  CHECK(lines[0].find("exit_status=1, notice=problem, perfdata=v=1, previous_state=ok, "
                      "probe=command, state=warning}") != std::string::npos);
  CHECK(lines[3].find("notice=recovery") != std::string::npos);
  CHECK(lines[3].find("previous_state=unknown") != std::string::npos);
  CHECK(hub.processStatus("check")["restarts"] == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("check: a hanging check does not delay a 1 s check", "[check][integration]") {
  Hub hub;
  const auto times = hub.dir() / "times";
  const auto bg = hub.dir() / "bg.pid";
  const auto hang = script(hub, "hang.sh", "sleep 30 &\necho $! > " + bg.string() + "\nwait\n");
  const auto fast = script(hub, "fast.sh", "date +%s%N >> " + times.string() + "\n");
  writeFile(hub.config(), readFile(hub.config()) + kRouting +
                              "inputs:\n  check:\n    checks:\n"
                              "      - { name: hang, every: 4s, timeout: 3s, category: APP,"
                              " command: [" +
                              hang +
                              "] }\n"
                              "      - { name: fast, every: 1s, category: APP, command: [" +
                              fast + "] }\n");
  hub.start();
  REQUIRE(waitFor([&] { return linesWith(hub, "hang: UNKNOWN - timed out after 3s") == 1; }));
  // The fast check ran on its second all through the hang.
  const auto t = readLines(times);
  REQUIRE(t.size() >= 3);
  for (std::size_t i = 1; i < t.size(); ++i) {
    const double gap = static_cast<double>(std::stoll(t[i]) - std::stoll(t[i - 1])) / 1e9;
    INFO("gap " << i << ": " << gap << "s");
    CHECK(gap > 0.7);
    CHECK(gap < 1.5);  // held up by the hang, it would be 3s
  }
  // The timeout killed the plugin's whole process group, its background child too.
  const int sleeper = std::stoi(readFile(bg));
  CHECK(waitFor([&] { return !alive(sleeper); }, 5s));
  CHECK(hub.stop() == 0);
}

TEST_CASE("check: desk checks stop after hubctl deskoff and resume after hubctl deskon",
          "[check][integration]") {
  Hub hub;
  const auto desk_runs = hub.dir() / "desk", clock_runs = hub.dir() / "clock";
  const auto clock = script(hub, "clock.sh", "echo x >> " + clock_runs.string() + "\n");
  const auto desk = script(hub, "desk.sh", "echo x >> " + desk_runs.string() + "\n");
  writeFile(hub.config(), readFile(hub.config()) + kRouting +
                              "inputs:\n  check:\n    checks:\n"
                              "      - { name: clock, every: 200ms, category: APP, command: [" +
                              clock +
                              "] }\n"
                              "      - { name: desk, every: 200ms, category: APP, desk: true,"
                              " command: [" +
                              desk + "] }\n");
  hub.start();
  REQUIRE(moreLines(desk_runs, 2));  // desk is on at start (desk.at_start: on)

  REQUIRE(hub.hubctl({"deskoff"}).code == 0);
  REQUIRE(waitFor([&] {
    return readFile(hub.hubLog()).find("desk off: 1 desk checks paused") != std::string::npos;
  }));
  REQUIRE(moreLines(clock_runs, 2));  // a desk run in progress at DeskOff may still end
  const auto paused_at = lineCount(desk_runs);
  // The other check is the clock: five of its runs pass with no desk run.
  REQUIRE(moreLines(clock_runs, 5));
  CHECK(lineCount(desk_runs) == paused_at);
  CHECK(hub.processStatus("check")["state"] == "running");  // paused, not stopped

  REQUIRE(hub.hubctl({"deskon"}).code == 0);
  CHECK(moreLines(desk_runs, 2));
  CHECK(readFile(hub.hubLog()).find("desk on: 1 desk checks resume") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("check: DMStop while a 2 s check runs reports its result, then the process exits",
          "[check][integration]") {
  Hub hub;
  const auto started = hub.dir() / "started";
  const auto slow = script(hub, "slow.sh",
                           "touch " + started.string() + "\nsleep 2\necho 'slow result'\nexit 1\n");
  writeFile(hub.config(), readFile(hub.config()) + kRouting +
                              "inputs:\n  check:\n    checks:\n"
                              "      - { name: slow, every: 10s, timeout: 5s, category: APP,"
                              " command: [" +
                              slow + "] }\n");
  hub.start();
  REQUIRE(waitFor([&] { return std::filesystem::exists(started); }));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(hub.stop() == 0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took > 1.0);  // it waited for the run
  CHECK(took < 5.0);  // and not for the timeout
  CHECK(linesWith(hub, "alpha APP warning slow: WARNING - slow result") == 1);
  const auto log = readFile(hub.hubLog());
  CHECK(log.find("[check] info: stop requested: no new checks start; waiting for the 1 running") !=
        std::string::npos);
  CHECK(log.find("[check] info: stopping: since start") != std::string::npos);
  // Exited by itself after the result, not killed at kill_timeout.
  bool exited = false;
  for (const auto& line : readLines(hub.hubLog())) {
    exited |= line.find("[hub] info: check (pid ") != std::string::npos &&
              line.find(") stopped: exit 0") != std::string::npos;
  }
  CHECK(exited);
}

TEST_CASE("check: a killed check process is restarted without repeating its reports",
          "[check][integration]") {
  Hub hub;
  const auto runs = hub.dir() / "runs";
  const auto crit =
      script(hub, "crit.sh", "echo x >> " + runs.string() + "\necho 'still broken'\nexit 2\n");
  writeFile(hub.config(), readFile(hub.config()) + kRouting +
                              "inputs:\n  check:\n    checks:\n"
                              "      - { name: crit, every: 200ms, category: APP, command: [" +
                              crit + "] }\n");
  hub.start();
  REQUIRE(hub.waitLines(1));
  // The state is saved within a second of the change.
  REQUIRE(waitFor([&] {
    return readFile(hub.dir() / "var/check.state").find("\"crit\"") != std::string::npos;
  }));
  const int pid = hub.processStatus("check")["pid"];
  REQUIRE(kill(pid, SIGKILL) == 0);
  REQUIRE(waitFor([&] {
    const auto st = hub.processStatus("check");
    return st["restarts"] == 1 && st["state"] == "running";
  }));
  REQUIRE(moreLines(runs, 3));
  CHECK(linesWith(hub, "crit: CRITICAL - still broken") == 1);
  CHECK(lineCount(hub.operatorLog()) == 1);
  CHECK(hub.stop() == 0);
}
