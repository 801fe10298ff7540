// No loss, no duplicates (DESIGN §3): reports survive kill -9 of the output and of the hub,
// a restarted hub cleans up after the dead one, and startup.pending decides what happens to
// the backlog.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace reporthub;
using namespace reporthub::test;
using nlohmann::json;

namespace {

// How often each report id appears in the operator log (text lines end with " [id]").
std::map<std::string, int> idCounts(const std::filesystem::path& log) {
  std::map<std::string, int> counts;
  for (const auto& line : readLines(log)) {
    if (line.size() > 38 && line.back() == ']') ++counts[line.substr(line.size() - 37, 36)];
  }
  return counts;
}

const char* kLocalHeldDown =
    "outputs:\n  local: { restart: { immediate: 0, window: 1m, then_every: 1h } }\n";

void holdLocalDown(Hub& hub) {
  const int pid = hub.processStatus("local")["pid"];
  REQUIRE(pid > 0);
  REQUIRE(kill(pid, SIGKILL) == 0);
  REQUIRE(waitFor([&] { return hub.processStatus("local")["state"] == "backoff"; }));
}

}  // namespace

TEST_CASE("kill -9 of the hub with 10,000 undelivered reports: all delivered once after restart",
          "[durability][integration]") {
  Hub hub(kLocalHeldDown);
  hub.start();
  holdLocalDown(hub);
  const auto ids = submitReports(hub, 10'000, "BACKLOG");
  CHECK(hub.status()["outputs"][0]["backlog"] == 10'000);
  hub.process().killAll();  // SIGKILL: no DMStop, no final status file

  writeFile(hub.config(),
            readFile(hub.config()).substr(0, readFile(hub.config()).find("outputs:")));
  hub.start();
  REQUIRE(hub.waitLines(10'001, 30s));  // the backlog and the hub's notice
  const auto counts = idCounts(hub.operatorLog());
  for (const auto& id : ids) {
    INFO(id);
    REQUIRE(counts.count(id) == 1);
    CHECK(counts.at(id) == 1);
  }
  const auto log = readFile(hub.operatorLog());
  CHECK(log.find("alpha REPORTHUB warning the previous run (pid") != std::string::npos);
  CHECK(log.find("ended abnormally; 0 leftover processes cleaned up; 10000 undelivered reports "
                 "replayed") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("startup.pending: discard drops the backlog and says how many",
          "[durability][integration]") {
  Hub hub(kLocalHeldDown);
  hub.start();
  holdLocalDown(hub);
  submitReports(hub, 500, "BACKLOG");
  hub.process().killAll();

  writeFile(hub.config(),
            "node: alpha\npaths: { state_dir: var, run_dir: run }\n"
            "startup: { pending: discard }\n");
  hub.start();
  REQUIRE(hub.waitLines(1));
  REQUIRE(hub.hubctl({"report", "-C", "AFTER", "new report"}).code == 0);
  REQUIRE(hub.waitLines(2));
  const auto lines = readLines(hub.operatorLog());
  CHECK(lines.size() == 2);
  CHECK(lines[0].find("500 undelivered reports discarded (startup.pending: discard)") !=
        std::string::npos);
  CHECK(lines[1].find("AFTER info new report") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("DMStop with the output down keeps its backlog for the next start",
          "[durability][integration]") {
  Hub hub(kLocalHeldDown);
  hub.start();
  holdLocalDown(hub);
  submitReports(hub, 100, "KEPT");
  CHECK(hub.stop() == 0);
  CHECK(readFile(hub.hubLog()).find("100 undelivered reports stay in the journal") !=
        std::string::npos);

  writeFile(hub.config(), "node: alpha\npaths: { state_dir: var, run_dir: run }\n");
  hub.start();
  REQUIRE(hub.waitLines(101));
  const auto log = readFile(hub.operatorLog());
  CHECK(log.find("100 undelivered reports from the previous run replayed") != std::string::npos);
  CHECK(log.find("ended abnormally") == std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("leftover processes of a dead hub are killed before anything starts",
          "[durability][integration]") {
  Hub hub;
  std::filesystem::create_directories(hub.dir() / "var");
  // A real reporthub child whose hub is gone: it waits (10 s) for a hub that never answers.
  writeFile(hub.dir() / "stale.yaml",
            "node: alpha\ninputs:\n  testproc:\n    - { name: stale, mode: healthy }\n");
  Process stale(
      {reporthubBin(), "child", "testproc", "--hub", "ipc://" + (hub.dir() / "none.sock").string(),
       "--id", "testproc:stale", "--config", (hub.dir() / "stale.yaml").string(), "stale"},
      hub.dir() / "stale.out", hub.dir() / "stale.err");
  const std::uint64_t starttime = processStartTime(stale.pid());
  REQUIRE(starttime > 0);
  // The status file of a hub that died while running that child.
  json st = {
      {"node", "alpha"},
      {"pid", 999999},
      {"phase", "running"},
      {"processes", {{{"id", "testproc:stale"}, {"pid", stale.pid()}, {"starttime", starttime}}}}};
  writeFile(hub.dir() / "var/status.json", st.dump());

  REQUIRE(stale.running());
  hub.start();
  CHECK(stale.wait(5s) == 128 + SIGKILL);
  const auto log = readLines(hub.hubLog());
  int killed_at = -1, started_at = -1;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].find("of the previous run is still alive; killing it") != std::string::npos) {
      killed_at = static_cast<int>(i);
    }
    if (log[i].find("started local (pid") != std::string::npos && started_at < 0) {
      started_at = static_cast<int>(i);
    }
  }
  CHECK(killed_at >= 0);
  CHECK(started_at > killed_at);
  REQUIRE(hub.waitLines(1));
  CHECK(readFile(hub.operatorLog()).find("1 leftover process cleaned up") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("the status file identifies each child by pid and kernel start time",
          "[durability][integration]") {
  Hub hub;
  hub.start();
  const int pid = hub.processStatus("local")["pid"];
  REQUIRE(waitFor([&] {
    auto st = json::parse(readFile(hub.dir() / "var/status.json"), nullptr, false);
    return !st.is_discarded() && st["processes"][0]["pid"] == pid && st["phase"] == "running";
  }));
  const auto st = json::parse(readFile(hub.dir() / "var/status.json"));
  const std::uint64_t starttime = processStartTime(pid);
  REQUIRE(starttime > 0);
  CHECK(st["processes"][0]["starttime"] == starttime);
  CHECK(st["phase"] == "running");
  CHECK(hub.stop() == 0);
}

TEST_CASE("a pid in the status file that now belongs to another process is left alone",
          "[durability][integration]") {
  Hub hub;
  std::filesystem::create_directories(hub.dir() / "var");
  Process other({"/bin/sleep", "30"}, hub.dir() / "o.out", hub.dir() / "o.err");
  json st = {{"phase", "running"},
             {"processes", {{{"id", "local"}, {"pid", other.pid()}, {"starttime", 12345}}}}};
  writeFile(hub.dir() / "var/status.json", st.dump());
  hub.start();
  CHECK(other.running());
  CHECK(hub.stop() == 0);
}

TEST_CASE("kill -9 of the output mid-stream: every report once", "[durability][integration]") {
  Hub hub("outputs:\n  local: { restart: { immediate: 100, window: 1m, then_every: 1s } }\n");
  hub.start();
  std::vector<std::string> ids;
  // Paced (about 5 s) so the output is killed mid-stream, not after it.
  std::thread sender([&] { ids = submitReports(hub, 20'000, "STREAM", "submitter", 4'000); });
  int kills = 0;
  // Kill the output whenever it has written more since the last kill, five times.
  std::size_t last = 0;
  while (kills < 5 &&
         waitFor([&] { return readLines(hub.operatorLog()).size() > last + 500; }, 10s)) {
    last = readLines(hub.operatorLog()).size();
    const int pid = hub.processStatus("local")["pid"];
    if (pid > 0 && kill(pid, SIGKILL) == 0) ++kills;
  }
  sender.join();
  REQUIRE(ids.size() == 20'000);
  REQUIRE(hub.waitLines(20'000, 30s));
  const auto counts = idCounts(hub.operatorLog());
  std::size_t missing = 0, duplicated = 0;
  for (const auto& id : ids) {
    auto it = counts.find(id);
    if (it == counts.end())
      ++missing;
    else if (it->second > 1)
      ++duplicated;
  }
  INFO("kills " << kills << ", restarts " << hub.processStatus("local")["restarts"]);
  CHECK(kills >= 3);
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("journal.sync off: acknowledged after write, still replayed after kill -9 of the hub",
          "[durability][integration]") {
  // Without fdatasync the page cache holds the journal: it survives any process crash.
  Hub hub(std::string("journal: { sync: off }\n") + kLocalHeldDown);
  hub.start();
  holdLocalDown(hub);
  const auto ids = submitReports(hub, 1'000, "NOSYNC");
  hub.process().killAll();

  writeFile(hub.config(),
            "node: alpha\npaths: { state_dir: var, run_dir: run }\n"
            "journal: { sync: off }\n");
  hub.start();
  REQUIRE(hub.waitLines(1'001, 20s));
  const auto counts = idCounts(hub.operatorLog());
  std::size_t once = 0;
  for (const auto& id : ids)
    once += counts.count(id) && counts.at(id) == 1;
  CHECK(once == ids.size());
  CHECK(hub.stop() == 0);
}

TEST_CASE("the status file keeps its counters current between state changes",
          "[durability][integration]") {
  Hub hub;
  hub.start();
  submitReports(hub, 250, "COUNTED");
  // No process changes state here: only the once-a-second counter refresh can write it.
  CHECK(waitFor(
      [&] {
        const auto st = json::parse(readFile(hub.dir() / "var/status.json"), nullptr, false);
        return !st.is_discarded() && st["counters"]["accepted"] == 250 &&
               st["counters"]["delivered"] == 250;
      },
      5s));
  CHECK(hub.stop() == 0);
}
