// End-to-end tests of the hub (DESIGN §1, §4): lock, config errors, reports to the operator
// log, supervision of real misbehaving children, DMStop, SIGTERM and control. Each test
// runs its own hub in a temporary directory.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <regex>

using namespace reporthub::test;
using nlohmann::json;

namespace {

// Index of the first hub.log line containing `needle`, or -1.
int lineIndex(const std::vector<std::string>& lines, const std::string& needle) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos) return static_cast<int>(i);
  }
  return -1;
}

// Milliseconds since midnight of a hub.log line's timestamp "YYYY-MM-DDTHH:MM:SS.mmm".
double logTimeMs(const std::string& line) {
  int h = 0, m = 0, s = 0, ms = 0;
  std::sscanf(line.c_str() + 11, "%d:%d:%d.%d", &h, &m, &s, &ms);
  return ((h * 60.0 + m) * 60.0 + s) * 1000.0 + ms;
}

std::vector<double> startTimes(const std::filesystem::path& log, const std::string& id) {
  std::vector<double> times;
  for (const auto& line : readLines(log)) {
    if (line.find("started " + id + " (pid") != std::string::npos) times.push_back(logTimeMs(line));
  }
  return times;
}

}  // namespace

TEST_CASE("hubctl report reaches the operator log within a second", "[hub][integration]") {
  Hub hub;
  hub.start();
  const auto t0 = std::chrono::steady_clock::now();
  auto r =
      hub.hubctl({"report", "-C", "DISK", "-s", "warning", "-a", "mount=/", "root is 91% full"});
  REQUIRE(r.code == 0);
  CHECK(r.out.size() == 37);  // the report id and a newline
  REQUIRE(hub.waitLines(1, 1s));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  auto lines = readLines(hub.operatorLog());
  CHECK(lines[0].find("alpha DISK warning root is 91% full {mount=/}") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("hubctl report refuses text that is not UTF-8 with exit 2", "[hub][integration]") {
  Hub hub;
  hub.start();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"report", "-C", "DISK", "bad \xff byte"},
        std::vector<std::string>{"report", "-C", "DI\xc3SK", "text"},
        std::vector<std::string>{"report", "-C", "DISK", "-a", "k=\xfe", "text"}}) {
    auto r = hub.hubctl(args);
    CHECK(r.code == 2);
    CHECK(r.err.find("must be valid UTF-8") != std::string::npos);
  }
  CHECK(hub.status()["counters"]["accepted"] == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("the operator log can be JSON lines", "[hub][integration]") {
  Hub hub("outputs: { local: { format: json } }\n");
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "APP", "-s", "critical", "-a", "k=v", "it \"broke\""}).code ==
          0);
  REQUIRE(hub.waitLines(1));
  auto j = json::parse(readLines(hub.operatorLog())[0]);
  CHECK(j["category"] == "APP");
  CHECK(j["severity"] == "critical");
  CHECK(j["text"] == "it \"broke\"");
  CHECK(j["origin"] == "alpha");
  CHECK(j["source"] == "jcl");
  CHECK(j["attrs"]["k"] == "v");
  CHECK(j["id"].get<std::string>().size() == 36);
  CHECK(hub.stop() == 0);
}

TEST_CASE("a second hub on the same state dir exits 3 while the first runs", "[hub][integration]") {
  Hub hub;
  hub.start();
  auto second = runCommand({reporthubBin(), "run", "-c", hub.config().string()});
  CHECK(second.code == 3);
  const std::string expected = "reporthub: another hub is already active (pid " +
                               std::to_string(hub.process().pid()) + ", lock " +
                               (hub.dir() / "var/hub.lock").string() + ")";
  CHECK(second.err.find(expected) != std::string::npos);
  // The loser touched nothing: the first hub still answers and still has one local output.
  auto st = hub.status();
  REQUIRE(st.is_object());
  CHECK(st["processes"].size() == 1);

  REQUIRE(hub.stop() == 0);
  // After the first stops, a new one starts on the same state dir.
  hub.start();
  CHECK(hub.stop() == 0);
}

TEST_CASE("bad configs exit 2 naming the line and column", "[hub][integration][config]") {
  struct Case {
    const char* name;
    std::string yaml;
    std::string where;  // "LINE:COL:" expected after the file name
    std::string what;
  };
  const std::vector<Case> cases = {
      {"unknown top-level key", "node: a\nnodez: {}\n", "2:1:", "unknown key 'nodez'"},
      {"unknown nested key", "node: a\noutputs:\n  local: { file: x, colour: red }\n",
       "3:21:", "colour"},
      {"missing node", "paths: { state_dir: var }\n", "", "node"},
      {"bad duration", "node: a\nshutdown: { kill_timeout: 5x }\n", "2:27:", "bad duration"},
      {"wrong type", "node: a\nrestart: { immediate: many }\n", "2:23:", "integer"},
      {"bad pending", "node: a\nstartup: { pending: keep }\n", "2:21:", "replay"},
      {"undefined recipient",
       "node: a\nrecipients: { operator: local }\ncategories:\n  DISK: [operator, opz]\n",
       "4:20:", "opz"},
      {"undefined node", "node: a\nrecipients:\n  hq: { node: hq, recipient: operator }\n",
       "3:", "hq"},
      {"bad severity-like enum", "node: a\noutputs: { local: { format: xml } }\n", "2:29:", "xml"},
      {"receiver without an address", "node: a\ninputs:\n  ns_receive: {}\n", "3:", "listen"},
      {"invalid logscan pattern",
       "node: a\ninputs:\n  logscan:\n    files:\n      - path: x.log\n        rules:\n"
       "          - { match: 'a(b', category: X }\n",
       "7:22:", "invalid pattern 'a(b': missing closing parenthesis"},
      {"yaml syntax", "node: a\noutputs: { local: [ }\n", "2:", ""},
      {"testproc without mode", "node: a\ninputs:\n  testproc:\n    - { name: t }\n", "4:", "mode"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      TempDir dir;
      const auto file = dir / "hub.yaml";
      writeFile(file, c.yaml);
      for (const char* cmd : {"run", "check-config"}) {
        auto r = runCommand({reporthubBin(), cmd, "-c", file.string()});
        INFO(cmd << " stderr: " << r.err);
        CHECK(r.code == 2);
        CHECK(r.err.find(file.string() + ":" + c.where) != std::string::npos);
        CHECK(r.err.find(c.what) != std::string::npos);
      }
    }
  }
}

TEST_CASE("check-config and route on a good config", "[hub][integration][config]") {
  TempDir dir;
  const auto file = dir / "hub.yaml";
  writeFile(file,
            "node: a\nrecipients: { operator: local, console2: local }\n"
            "categories:\n  DISK: [operator, console2]\n  default: [operator]\n");
  auto ok = runCommand({reporthubBin(), "check-config", "-c", file.string()});
  CHECK(ok.code == 0);
  auto disk = runCommand({reporthubBin(), "route", "-c", file.string(), "DISK"});
  CHECK(disk.code == 0);
  CHECK(disk.out == "operator -> local\nconsole2 -> local\n");
  auto other = runCommand({reporthubBin(), "route", "-c", file.string(), "NOPE"});
  CHECK(other.out == "category 'NOPE' is not configured: using default\noperator -> local\n");
}

TEST_CASE("kill -9 of the local output: restarted, nothing sent meanwhile is lost",
          "[hub][integration][supervision]") {
  // Restarts are throttled to one per 5s, so the output stays down long enough for the
  // reports below to be sent while it is down, even on a slow (sanitizer) build.
  Hub hub("outputs:\n  local: { restart: { immediate: 0, window: 1m, then_every: 5s } }\n");
  hub.start();
  const int pid = hub.processStatus("local")["pid"];
  REQUIRE(pid > 0);
  REQUIRE(kill(pid, SIGKILL) == 0);
  REQUIRE(waitFor([&] { return hub.processStatus("local")["state"] == "backoff"; }));
  for (int i = 0; i < 20; ++i) {
    REQUIRE(hub.hubctl({"report", "-C", "T", "while down " + std::to_string(i)}).code == 0);
  }
  CHECK(hub.processStatus("local")["state"] == "backoff");  // all 20 went in while it was down
  REQUIRE(hub.waitLines(20, 10s));
  auto local = hub.processStatus("local");
  CHECK(local["state"] == "running");
  CHECK(local["restarts"] == 1);
  CHECK(local["last_exit"] == "signal 9 (Killed)");
  CHECK(local["pid"] != pid);
  const auto lines = readLines(hub.operatorLog());
  CHECK(lines.size() == 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(lineIndex(lines, "while down " + std::to_string(i)) >= 0);
  }
  CHECK(hub.stop() == 0);
}

TEST_CASE("a crash loop restarts `immediate` times, then once per then_every",
          "[hub][integration][supervision]") {
  Hub hub(
      "inputs:\n  testproc:\n    - { name: crashy, mode: crash,"
      " restart: { immediate: 3, window: 1m, then_every: 1s } }\n");
  hub.start();
  // 1 start + 3 immediate restarts + 2 throttled ones.
  REQUIRE(waitFor([&] { return startTimes(hub.hubLog(), "testproc:crashy").size() >= 6; }, 10s));
  CHECK(hub.stop() == 0);
  const auto t = startTimes(hub.hubLog(), "testproc:crashy");
  INFO("start times (ms): " << t[0] << " " << t[1] << " " << t[2] << " " << t[3] << " " << t[4]
                            << " " << t[5]);
  for (int i = 1; i <= 3; ++i)
    CHECK(t[i] - t[i - 1] < 800);  // 100, 200, 400ms pauses
  for (int i = 4; i <= 5; ++i) {
    CHECK(t[i] - t[i - 1] >= 950);  // then_every counted from the last restart
    CHECK(t[i] - t[i - 1] < 1500);
  }
}

TEST_CASE("a child that exits 0 on its own is not restarted", "[hub][integration][supervision]") {
  Hub hub("inputs:\n  testproc:\n    - { name: h, mode: healthy }\n");
  hub.start();
  // Once it is up: before that, SIGTERM's default action would kill it (an abnormal exit).
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:h")["state"] == "running"; }));
  const int pid = hub.processStatus("testproc:h")["pid"];
  REQUIRE(kill(pid, SIGTERM) == 0);  // the child exits 0, but the hub did not ask
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:h")["state"] == "stopped"; }));
  auto p = hub.processStatus("testproc:h");
  CHECK(p["restarts"] == 0);
  CHECK(p["last_exit"] == "exit 0");
  CHECK(hub.stop() == 0);
}

TEST_CASE("DMStop with healthy children: inputs before outputs, fast, lock freed",
          "[hub][integration][dmstop]") {
  Hub hub(
      "inputs:\n  testproc:\n    - { name: a, mode: healthy }\n    - { name: b, mode: healthy }\n");
  hub.start();
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:b")["state"] == "running"; }));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = hub.hubctl({"dmstop", "--wait"});
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(r.code == 0);
  CHECK(hub.process().wait(5s) == 0);
  CHECK(elapsed < 1s);
  const auto log = readLines(hub.hubLog());
  int last_input = -1, first_output = -1;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& l = log[i];
    if (l.find(") stopped: ") == std::string::npos) continue;
    if (l.find("testproc:") != std::string::npos) last_input = static_cast<int>(i);
    if (l.find("] info: local (pid") != std::string::npos && first_output < 0) {
      first_output = static_cast<int>(i);
    }
  }
  CHECK(last_input >= 0);
  CHECK(first_output > last_input);
  CHECK(lineIndex(log, "stage 1") < lineIndex(log, "stage 2"));
  // The lock is free: hubctl finds no hub, and a new hub could start.
  CHECK(hub.hubctl({"status"}).code == 4);
  auto st = json::parse(readFile(hub.dir() / "var/status.json"));
  CHECK(st["phase"] == "stopped");
}

TEST_CASE("DMStop kills a child that ignores SIGTERM after kill_timeout",
          "[hub][integration][dmstop]") {
  Hub hub(
      "shutdown: { kill_timeout: 2s }\n"
      "inputs:\n  testproc:\n    - { name: stubborn, mode: ignore-term }\n");
  hub.start();
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:stubborn")["state"] == "running"; }));
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(hub.hubctl({"dmstop"}).code == 0);
  CHECK(hub.process().wait(10s) == 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs >= 1.9);
  CHECK(secs < 3.5);
  const auto log = readFile(hub.hubLog());
  CHECK(log.find("testproc:stubborn (pid") != std::string::npos);
  CHECK(log.find("still running 2s after the stop request; killed") != std::string::npos);
  CHECK(log.find("testproc:stubborn (pid") < log.find("still running 2s"));
}

TEST_CASE("SIGTERM to the hub runs DMStop", "[hub][integration][dmstop]") {
  Hub hub("inputs:\n  testproc:\n    - { name: a, mode: slow-stop, delay: 300ms }\n");
  hub.start();
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:a")["state"] == "running"; }));
  REQUIRE(hub.hubctl({"report", "-C", "X", "before the stop"}).code == 0);
  hub.process().signal(SIGTERM);
  CHECK(hub.process().wait(10s) == 0);
  const auto log = readFile(hub.hubLog());
  CHECK(log.find("DMStop (SIGTERM): stage 1: stopping inputs: testproc:a") != std::string::npos);
  CHECK(log.find("stopping slowly (300ms)") != std::string::npos);
  // Accepted before the stop, so delivered before the outputs stopped.
  CHECK(readFile(hub.operatorLog()).find("before the stop") != std::string::npos);
}

TEST_CASE("reports an input submits are routed to the operator log", "[hub][integration]") {
  Hub hub(
      "inputs:\n  testproc:\n    - { name: burst, mode: emit, count: 5000, category: BURST }\n");
  hub.start();
  REQUIRE(hub.waitLines(5000, 20s));
  const auto lines = readLines(hub.operatorLog());
  CHECK(lines.size() == 5000);
  CHECK(lines.front().find("alpha BURST info testproc burst report 1") != std::string::npos);
  CHECK(lines.back().find("testproc burst report 5000") != std::string::npos);
  auto st = hub.status();
  CHECK(st["counters"]["accepted"] == 5000);
  CHECK(st["counters"]["unknown_category"] == 5000);
  // Counted for each, logged once.
  const std::string log = readFile(hub.hubLog());
  const std::string line = "unknown category 'BURST': routed to categories.default";
  const auto first = log.find(line);
  CHECK(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("status shows processes, desk and counters, and desk switches",
          "[hub][integration][control]") {
  Hub hub("inputs:\n  testproc:\n    - { name: a, mode: healthy }\n");
  hub.start();
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:a")["state"] == "running"; }));
  auto st = hub.status();
  REQUIRE(st.is_object());
  CHECK(st["node"] == "alpha");
  CHECK(st["pid"] == hub.process().pid());
  CHECK(st["desk"] == "on");
  for (const char* key : {"accepted", "delivered", "unknown_category", "malformed", "refused"}) {
    CHECK(st["counters"].contains(key));
  }
  REQUIRE(st["processes"].size() == 2);
  for (const auto& p : st["processes"]) {
    for (const char* key : {"id", "pid", "state", "restarts", "last_exit", "uptime_s"}) {
      CHECK(p.contains(key));
    }
    CHECK(p["state"] == "running");
    CHECK(p["pid"].get<int>() > 0);
  }
  CHECK(st["outputs"][0]["output"] == "local");
  CHECK(st["outputs"][0]["connected"] == true);
  CHECK(st["outputs"][0]["window"] == 16384);  // what local asked for in its Hello

  CHECK(hub.hubctl({"deskoff"}).code == 0);
  CHECK(hub.status()["desk"] == "off");
  CHECK(readFile(hub.hubLog()).find("desk off (DeskOff)") != std::string::npos);
  CHECK(hub.hubctl({"deskon"}).code == 0);
  CHECK(hub.status()["desk"] == "on");

  auto table = hub.hubctl({"status"});
  CHECK(table.code == 0);
  CHECK(table.out.find("testproc:a") != std::string::npos);
  CHECK(hub.stop() == 0);
  // The status file stays readable after the hub is gone.
  auto offline = hub.hubctl({"status", "--offline", "--json"});
  CHECK(offline.code == 0);
  CHECK(json::parse(offline.out)["phase"] == "stopped");
}

TEST_CASE("hubctl without a hub exits 4", "[hub][integration][control]") {
  Hub hub;  // configured, never started
  auto r = hub.hubctl({"status"});
  CHECK(r.code == 4);
  CHECK(r.err.find("no hub is running") != std::string::npos);
  CHECK(hub.hubctl({"report", "-C", "X", "nobody home"}).code == 4);
}

TEST_CASE("hubctl usage errors exit 2", "[hub][integration][control]") {
  Hub hub;
  hub.start();
  CHECK(hub.hubctl({"report", "-C", "X", "-s", "loud", "text"}).code == 2);
  CHECK(hub.hubctl({"report", "-C", "X", "-a", "novalue", "text"}).code == 2);
  CHECK(hub.hubctl({"frobnicate"}).code == 2);
  CHECK(hub.stop() == 0);
}

TEST_CASE("the control socket refuses other users", "[hub][integration][control]") {
  if (geteuid() != 0) {
    WARN("not root: cannot run hubctl as another user; test not run");
    return;
  }
  Hub hub;
  // Let another user read the config and the lock, but not the hub's run_dir (0700).
  chmod(hub.dir().path().c_str(), 0755);
  chmod(hub.config().c_str(), 0644);
  hub.start();
  auto r = runCommand({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                       hubctlBin(), "-c", hub.config().string(), "status"});
  CHECK(r.code == 5);
  CHECK(r.err.find("refused") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("hubctl console follows the operator console live", "[hub][integration][control]") {
  Hub hub;
  hub.start();
  Process console({hubctlBin(), "-c", hub.config().string(), "console"}, hub.dir() / "console.out",
                  hub.dir() / "console.err");
  // PUB/SUB joins asynchronously: send probes until one shows up, then the real report.
  int probe = 0;
  REQUIRE(waitFor(
      [&] {
        hub.hubctl({"report", "-C", "PROBE", "probe " + std::to_string(++probe)});
        return readFile(hub.dir() / "console.out").find("PROBE") != std::string::npos;
      },
      10s, 50ms));
  REQUIRE(hub.hubctl({"report", "-C", "LIVE", "-s", "error", "seen live"}).code == 0);
  CHECK(waitFor([&] {
    return readFile(hub.dir() / "console.out").find("alpha LIVE error seen live") !=
           std::string::npos;
  }));
  CHECK(hub.stop() == 0);
  // The console notices the hub has gone and ends on its own.
  CHECK(console.wait(5s) == 0);
  CHECK(readFile(hub.dir() / "console.err").find("the hub has stopped") != std::string::npos);
}
