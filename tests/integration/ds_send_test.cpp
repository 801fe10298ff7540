// End-to-end tests of ds_send (DESIGN §1, §2; issue "DS: syslog"): a real hub forwards
// reports to a private rsyslogd on a loopback port chosen at run time, and the fields
// rsyslog parsed are checked. A server outage makes reports wait in the journal, and none
// is lost when the server comes back; neither is one when ds_send is killed mid-stream.
#include "common/lock.h"
#include "tests/support/harness.h"
#include "tests/support/syslog_server.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <set>

using namespace reporthub::test;
using nlohmann::json;

namespace {

const std::string kBom = "\xEF\xBB\xBF";

std::string dsSendConfig(const SyslogServer& server, const std::string& extra = "") {
  return "outputs:\n  ds_send:\n    target: \"" + server.target() +
         "\"\n    facility: daemon\n    app_name: hub-test\n" + extra +
         "recipients:\n"
         "  operator: local\n"
         "  syslog: ds_send\n"
         "categories:\n"
         "  DISK: [operator, syslog]\n"
         "  QUIET: [operator]\n"
         "  default: [operator, syslog]\n";
}

json outputStatus(Hub& hub, const std::string& output) {
  auto st = hub.status();
  if (!st.is_object()) return nullptr;
  for (const auto& o : st["outputs"]) {
    if (o["output"] == output) return o;
  }
  return nullptr;
}

// The report id in a line of the server's output (from the structured data).
std::string idOf(const std::string& line) {
  const auto pos = line.find(" id=\"");
  if (pos == std::string::npos) return {};
  return line.substr(pos + 5, line.find('"', pos + 5) - pos - 5);
}

std::map<std::string, int> idCounts(const SyslogServer& server) {
  std::map<std::string, int> ids;
  for (const auto& line : server.lines())
    ++ids[idOf(line)];
  return ids;
}

std::string reportId(const RunResult& r) {
  return r.out.substr(0, r.out.find('\n'));
}

std::vector<std::string> split(const std::string& s, std::size_t n) {
  // The first n space-separated fields, then the rest.
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto sp = s.find(' ', start);
    out.push_back(s.substr(start, sp - start));
    start = sp == std::string::npos ? s.size() : sp + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

TEST_CASE("a report reaches rsyslog with the fields it was sent with", "[ds_send][integration]") {
  SyslogServer server;
  Hub hub(dsSendConfig(server));
  hub.start();
  auto r = hub.hubctl({"report", "-C", "DISK", "-s", "warning", "-a", "mount=/", "-a",
                       "dev=/dev/sda1", "Plattenfüllung 91% auf \"root\" [sda]"});
  REQUIRE(r.code == 0);
  const std::string id = reportId(r);
  REQUIRE(waitFor([&] { return server.lines().size() == 1; }));
  // hostname app-name procid msgid facility severity timestamp, then SD and MSG.
  const auto f = split(server.lines()[0], 7);
  CHECK(f[0] == "alpha");
  CHECK(f[1] == "hub-test");
  CHECK(f[2] == "-");
  CHECK(f[3] == "DISK");
  CHECK(f[4] == "daemon");
  CHECK(f[5] == "warning");
  CHECK(f[6].ends_with("Z"));  // UTC, as sent
  CHECK(f[6].size() == std::string("2026-11-22T06:32:29.123456Z").size());
  CHECK(f[7] == "[reporthub@32473 id=\"" + id +
                    "\" category=\"DISK\" source=\"jcl\" dev=\"/dev/sda1\" mount=\"/\"] " + kBom +
                    "Plattenfüllung 91% auf \"root\" [sda]");

  // A category that is no MSGID, an error, an attr whose name is no SD-NAME.
  r = hub.hubctl({"report", "-C", "Lange Kategorie", "-s", "critical", "-a", "a=b=c", "-a", "x]y=1",
                  "escaped ] \\ \" end"});
  REQUIRE(r.code == 0);
  const std::string id2 = reportId(r);
  REQUIRE(waitFor([&] { return server.lines().size() == 2; }));
  const auto g = split(server.lines()[1], 7);
  CHECK(g[3] == "-");
  CHECK(g[5] == "crit");
  CHECK(g[7] == "[reporthub@32473 id=\"" + id2 +
                    "\" category=\"Lange Kategorie\" source=\"jcl\" a=\"b=c\"] " + kBom +
                    "escaped ] \\ \" end");

  // Not routed to syslog: the operator gets it, the server does not.
  REQUIRE(hub.hubctl({"report", "-C", "QUIET", "operator only"}).code == 0);
  REQUIRE(hub.waitLines(3));
  REQUIRE(waitFor([&] {
    const auto o = outputStatus(hub, "ds_send");
    return o.is_object() && o["delivered"] == 2 && o["backlog"] == 0;
  }));
  CHECK(server.lines().size() == 2);
  CHECK(hub.stop() == 0);
  const std::string log = readFile(hub.hubLog());
  CHECK(log.find("[ds_send] info: connected to syslog server 127.0.0.1:" +
                 std::to_string(server.port())) != std::string::npos);
  CHECK(log.find("attr(s) have names that cannot be RFC 5424 SD-NAMEs") != std::string::npos);
  CHECK(log.find("2 message(s) sent to 127.0.0.1:" + std::to_string(server.port()) +
                 " over 1 connection(s)") != std::string::npos);
}

TEST_CASE("syslog server down: reports wait in the journal and all arrive when it is back",
          "[ds_send][integration]") {
  SyslogServer server;
  Hub hub(dsSendConfig(server, "    retry: { first: 100ms, max: 400ms }\n"));
  hub.start();
  std::set<std::string> ids;
  auto r = hub.hubctl({"report", "-C", "DISK", "before the outage"});
  REQUIRE(r.code == 0);
  ids.insert(reportId(r));
  REQUIRE(waitFor([&] { return server.lines().size() == 1; }));

  server.stop();
  for (int i = 0; i < 5; ++i) {
    r = hub.hubctl({"report", "-C", "DISK", "during the outage " + std::to_string(i)});
    REQUIRE(r.code == 0);
    ids.insert(reportId(r));
  }
  // The hub retries and says why; the reports wait in its journal.
  const std::string peer = "syslog server 127.0.0.1:" + std::to_string(server.port()) + ": ";
  REQUIRE(waitFor([&] {
    const auto o = outputStatus(hub, "ds_send");
    return o.is_object() && o["retrying"] == true && o["backlog"] == 5 &&
           o["last_error"].get<std::string>().starts_with(peer);
  }));
  const std::string log = readFile(hub.hubLog());
  CHECK(log.find(peer + "connection refused; the reports for ds_send wait in the hub's "
                        "journal") != std::string::npos);

  server.start();
  REQUIRE(waitFor([&] { return idCounts(server).size() == ids.size(); }, 30s));
  REQUIRE(waitFor([&] { return outputStatus(hub, "ds_send")["backlog"] == 0; }));
  // Nothing was in flight when the server went: each report arrived exactly once.
  const auto counts = idCounts(server);
  for (const auto& id : ids) {
    INFO(id);
    CHECK(counts.count(id) == 1);
    CHECK(counts.at(id) == 1);
  }
  CHECK(readFile(hub.hubLog())
            .find("connected to syslog server 127.0.0.1:" + std::to_string(server.port()) +
                  " again after") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("kill -9 of ds_send mid-stream: every report reaches the server",
          "[ds_send][integration]") {
  constexpr std::size_t kReports = 20000;
  SyslogServer server;
  Hub hub(dsSendConfig(server) + "inputs:\n  testproc:\n    - { name: talker, mode: emit, count: " +
          std::to_string(kReports) + ", category: DISK }\n");
  hub.start();
  // Killed as soon as the server has something, so the stream is still going.
  REQUIRE(waitFor(
      [&] {
        return std::filesystem::exists(server.output()) &&
               std::filesystem::file_size(server.output()) > 0;
      },
      30s, 1ms));
  auto p = hub.processStatus("ds_send");
  REQUIRE(p.is_object());
  ::kill(p["pid"].get<pid_t>(), SIGKILL);
  const std::size_t at_kill = server.lines().size();
  CHECK(at_kill < kReports);  // it really was mid-stream
  REQUIRE(waitFor([&] {
    auto q = hub.processStatus("ds_send");
    return q.is_object() && q["pid"] != p["pid"] && q["state"] == "running";
  }));
  REQUIRE(hub.waitLines(kReports, 60s));
  REQUIRE(waitFor([&] { return outputStatus(hub, "ds_send")["backlog"] == 0; }, 60s));
  // Every id in the operator log is at the server at least once; repeats are bounded by
  // what one instance can have had unconfirmed (its window).
  const auto counts = idCounts(server);
  std::size_t missing = 0, repeats = 0;
  for (const auto& line : readLines(hub.operatorLog())) {
    const auto open = line.rfind('[');
    const std::string id = line.substr(open + 1, line.size() - open - 2);
    if (!counts.count(id)) ++missing;
  }
  for (const auto& [id, n] : counts)
    repeats += static_cast<std::size_t>(n - 1);
  CHECK(missing == 0);
  CHECK(counts.size() == kReports);
  CHECK(repeats <= 1024);
  CHECK(hub.stop() == 0);
}

TEST_CASE("ds_send exits 1 when its hub does not hold ds.lock", "[ds_send][integration]") {
  SyslogServer server;
  TempDir dir;
  const auto config = dir / "hub.yaml";
  writeFile(config,
            "node: alpha\npaths: { state_dir: var, run_dir: run }\n" + dsSendConfig(server));
  const auto r = runCommand(
      {reporthubBin(), "child", "ds_send", "--hub", "ipc://" + (dir / "run/hub.sock").string(),
       "--id", "ds_send", "--config", config.string()},
      20s);
  CHECK(r.code == 1);
  CHECK(r.err.find((dir / "var/ds.lock").string() +
                   " is not held by any process: DS transport is not available, so ds_send "
                   "exits") != std::string::npos);
  CHECK(server.lines().empty());
}

TEST_CASE("ds_send runs only while its hub holds ds.lock", "[ds_send][integration]") {
  SyslogServer server;
  Hub hub(dsSendConfig(server, "    restart: { immediate: 100, window: 1m }\n"));
  // Someone else holds ds.lock when the hub starts: DS transport is not available.
  std::filesystem::create_directories(hub.dir() / "var");
  auto lock = reporthub::ExclusiveLock::acquire(hub.dir() / "var/ds.lock");
  REQUIRE(lock);
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "DISK", "held back"}).code == 0);
  REQUIRE(waitFor([&] {
    return readFile(hub.hubLog())
               .find("[ds_send] error: " + (hub.dir() / "var/ds.lock").string() +
                     " is held by pid " + std::to_string(getpid()) +
                     ", not by this process's hub (pid " + std::to_string(hub.process().pid()) +
                     "): DS transport is not available, so ds_send exits") != std::string::npos;
  }));
  CHECK(server.lines().empty());
  CHECK(outputStatus(hub, "ds_send")["backlog"] == 1);
  // Released: the hub takes it within a second, and the next ds_send delivers.
  lock->release();
  REQUIRE(waitFor([&] { return server.lines().size() == 1; }, 20s));
  CHECK(server.lines()[0].find("held back") != std::string::npos);
  CHECK(readFile(hub.hubLog()).find("DS transport available") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("syslog server restarted mid-stream: every report arrives", "[ds_send][integration]") {
  // rsyslogd stopped in order (SIGTERM) stores what it has read, but what its kernel had
  // acknowledged and it had not read yet is gone: ds_send sees the reset and sends the
  // batches it confirmed last again. Some reports may arrive twice, none may be missing.
  constexpr std::size_t kReports = 20000;
  SyslogServer server;
  Hub hub(dsSendConfig(server, "    retry: { first: 50ms, max: 100ms }\n") +
          "inputs:\n  testproc:\n    - { name: talker, mode: emit, count: " +
          std::to_string(kReports) + ", category: DISK }\n");
  hub.start();
  REQUIRE(waitFor(
      [&] {
        return std::filesystem::exists(server.output()) &&
               std::filesystem::file_size(server.output()) > 0;
      },
      30s, 1ms));
  server.stop();
  const std::size_t at_stop = server.lines().size();
  CHECK(at_stop < kReports);  // it really was mid-stream
  server.start();
  REQUIRE(hub.waitLines(kReports, 60s));
  REQUIRE(waitFor([&] { return outputStatus(hub, "ds_send")["backlog"] == 0; }, 60s));
  const auto counts = idCounts(server);
  std::size_t missing = 0;
  for (const auto& line : readLines(hub.operatorLog())) {
    const auto open = line.rfind('[');
    if (!counts.count(line.substr(open + 1, line.size() - open - 2))) ++missing;
  }
  CHECK(missing == 0);
  CHECK(counts.size() == kReports);
  CHECK(hub.stop() == 0);
}
