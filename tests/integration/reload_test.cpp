// Reload by diff (DESIGN §1 "reload"): the new config is validated in full first; only the
// processes whose config changed are started, stopped or restarted; the routing table swaps.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>

using namespace reporthub::test;
using nlohmann::json;

namespace {

const std::string kHead = "node: alpha\npaths: { state_dir: var, run_dir: run }\n";
const std::string kBase = kHead +
                          "inputs:\n  testproc:\n    - { name: a, mode: healthy }\n"
                          "recipients: { operator: local }\n"
                          "categories:\n  default: [operator]\n";

std::map<std::string, int> pids(Hub& hub) {
  std::map<std::string, int> out;
  const auto st = hub.status();
  for (const auto& p : st["processes"])
    out[p["id"]] = p["pid"];
  return out;
}

bool allRunning(Hub& hub) {
  auto st = hub.status();
  if (!st.is_object()) return false;
  for (const auto& p : st["processes"]) {
    if (p["state"] != "running") return false;
  }
  return true;
}

struct Fixture {
  Hub hub;
  Fixture() : hub() {
    writeFile(hub.config(), kBase);
    hub.start();
    REQUIRE(waitFor([&] { return allRunning(hub); }));
  }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "an invalid config changes nothing and reload exits 2",
                 "[reload][integration]") {
  const auto before = pids(hub);
  writeFile(hub.config(), kBase + "categories2: {}\n");
  auto r = hub.hubctl({"reload"});
  CHECK(r.code == 2);
  CHECK(r.err.find(hub.config().string() + ":9:1: unknown key 'categories2'") != std::string::npos);
  CHECK(pids(hub) == before);
  CHECK(readFile(hub.hubLog()).find("reload refused") != std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE_METHOD(Fixture, "a routing change applies without restarting any process",
                 "[reload][integration]") {
  const auto before = pids(hub);
  REQUIRE(hub.hubctl({"report", "-C", "DISK", "one"}).code == 0);
  CHECK(hub.status()["counters"]["unknown_category"] == 1);

  writeFile(hub.config(), kBase + "  DISK: [operator]\n");
  auto r = hub.hubctl({"reload"});
  CHECK(r.code == 0);
  CHECK(r.out.find("routing table replaced (2 categories); no process changed") !=
        std::string::npos);
  REQUIRE(hub.hubctl({"report", "-C", "DISK", "two"}).code == 0);
  CHECK(hub.status()["counters"]["unknown_category"] == 1);  // DISK is known now
  CHECK(pids(hub) == before);
  REQUIRE(hub.waitLines(2));
  CHECK(hub.stop() == 0);
}

TEST_CASE_METHOD(Fixture, "adding an input starts just that one", "[reload][integration]") {
  const auto before = pids(hub);
  writeFile(hub.config(),
            kHead +
                "inputs:\n  testproc:\n    - { name: a, mode: healthy }\n"
                "    - { name: b, mode: healthy }\n"
                "recipients: { operator: local }\ncategories:\n  default: [operator]\n");
  auto r = hub.hubctl({"reload"});
  CHECK(r.code == 0);
  CHECK(r.out.find("started testproc:b") != std::string::npos);
  REQUIRE(waitFor([&] { return hub.processStatus("testproc:b")["state"] == "running"; }));
  CHECK(hub.processStatus("testproc:b")["restarts"] == 0);  // started with the new config
  const auto after = pids(hub);
  CHECK(after.at("local") == before.at("local"));
  CHECK(after.at("testproc:a") == before.at("testproc:a"));
  CHECK(hub.stop() == 0);
}

TEST_CASE_METHOD(Fixture, "removing an input stops it and changing the output restarts only it",
                 "[reload][integration]") {
  const auto before = pids(hub);
  writeFile(hub.config(), kHead + "outputs:\n  local: { format: json }\n");
  auto r = hub.hubctl({"reload"});
  CHECK(r.code == 0);
  CHECK(r.out.find("stopped testproc:a") != std::string::npos);
  CHECK(r.out.find("restarted local") != std::string::npos);
  REQUIRE(waitFor([&] {
    auto st = hub.status();
    return st["processes"].size() == 1 && st["processes"][0]["state"] == "running" &&
           st["processes"][0]["pid"] != before.at("local");
  }));
  REQUIRE(hub.hubctl({"report", "-C", "AFTER", "in json now"}).code == 0);
  REQUIRE(hub.waitLines(1));
  CHECK(json::parse(readLines(hub.operatorLog())[0])["text"] == "in json now");
  CHECK(hub.processStatus("local")["restarts"] == 0);  // asked to restart, not a crash
  CHECK(hub.stop() == 0);
}

TEST_CASE_METHOD(Fixture, "SIGHUP reloads too", "[reload][integration]") {
  writeFile(hub.config(), kBase + "  DISK: [operator]\n");
  hub.process().signal(SIGHUP);
  REQUIRE(waitFor([&] {
    const auto log = readFile(hub.hubLog());
    const auto hup = log.find("SIGHUP: reloading");
    return hup != std::string::npos && log.find("routing table replaced", hup) != std::string::npos;
  }));
  REQUIRE(hub.hubctl({"report", "-C", "DISK", "known"}).code == 0);
  CHECK(hub.status()["counters"]["unknown_category"] == 0);
  CHECK(hub.stop() == 0);
}
