// Hub to hub over real links (DESIGN §2): a relay through three hubs on loopback, and a
// loop between two hubs that the second visit to a node stops with a circular error.
// Each hub has its own directory and ports chosen at run time.
#include "tests/support/harness.h"
#include "tests/support/net.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

using namespace reporthub;
using namespace reporthub::test;

namespace {

std::string tcp(int port) {
  return "\"tcp://127.0.0.1:" + std::to_string(port) + "\"";
}

// The counters in the status file a stopped hub left behind.
nlohmann::json finalStatus(const Hub& hub) {
  return nlohmann::json::parse(readFile(hub.dir() / "var/status.json"));
}

}  // namespace

TEST_CASE("site to region to HQ: a relay reaches HQ's operator log with origin and via",
          "[network][integration]") {
  const int region_port = freePort();
  const int hq_port = freePort();
  Hub hq("inputs:\n  ns_receive: { listen: " + tcp(hq_port) +
             " }\n"
             "outputs:\n  local: { format: json }\n"
             "recipients:\n  operator: local\n",
         "hq");
  Hub region("inputs:\n  ns_receive: { listen: " + tcp(region_port) +
                 " }\n"
                 "nodes:\n  hq: { address: " +
                 tcp(hq_port) +
                 " }\n"
                 "recipients:\n"
                 "  operator: local\n"
                 "  hq-operator: { node: hq, recipient: operator }\n"
                 "categories:\n  default: [operator]\n",
             "region");
  Hub site("nodes:\n  region: { address: " + tcp(region_port) +
               " }\n"
               "recipients:\n"
               "  operator: local\n"
               "  hq-via-region: { node: region, recipient: hq-operator }\n"
               "categories:\n  DISK: [hq-via-region]\n  default: [operator]\n",
           "site");
  hq.start();
  region.start();
  site.start();

  const auto sent = site.hubctl({"report", "-C", "DISK", "-s", "error", "/srv is 97% full"});
  REQUIRE(sent.code == 0);
  REQUIRE(hq.waitLines(1, 20s));
  const auto line = nlohmann::json::parse(readLines(hq.operatorLog()).at(0));
  CHECK(line["origin"] == "site");
  CHECK(line["category"] == "DISK");
  CHECK(line["severity"] == "error");
  CHECK(line["text"] == "/srv is 97% full");
  CHECK(line["via"] == nlohmann::json::array({"site", "region"}));
  CHECK(sent.out.find(line["id"].get<std::string>()) != std::string::npos);
  // Nothing at the site or the region's own operator: it only passed through.
  CHECK(readFile(region.operatorLog()).find("97% full") == std::string::npos);
  CHECK(readFile(site.operatorLog()).find("97% full") == std::string::npos);

  // Each hub shows its link, connected and drained.
  auto st = site.status();
  REQUIRE(st["links"].size() == 1);
  CHECK(st["links"][0]["node"] == "region");
  CHECK(waitFor([&] {
    auto s = site.status();
    return s["links"][0]["connected"] == true && s["links"][0]["backlog"] == 0;
  }));
  CHECK(site.stop() == 0);
  CHECK(region.stop() == 0);
  CHECK(hq.stop() == 0);
}

TEST_CASE("a loop between two hubs stops at the second visit with three operator messages",
          "[network][integration]") {
  const int a_port = freePort();
  const int b_port = freePort();
  // a sends LOOP to b's "back", which sends to a's "again", which would send to b again.
  Hub a("inputs:\n  ns_receive: { listen: " + tcp(a_port) +
            " }\n"
            "nodes:\n  b: { address: " +
            tcp(b_port) +
            " }\n"
            "recipients:\n"
            "  operator: local\n"
            "  to-b: { node: b, recipient: back }\n"
            "  again: { node: b, recipient: back }\n"
            "categories:\n  LOOP: [to-b]\n  default: [operator]\n",
        "a");
  Hub b("inputs:\n  ns_receive: { listen: " + tcp(b_port) +
            " }\n"
            "nodes:\n  a: { address: " +
            tcp(a_port) +
            " }\n"
            "recipients:\n"
            "  operator: local\n"
            "  back: { node: a, recipient: again }\n"
            "categories:\n  default: [operator]\n",
        "b");
  a.start();
  b.start();
  REQUIRE(a.hubctl({"report", "-C", "LOOP", "round and round"}).code == 0);
  REQUIRE(waitFor([&] { return a.status()["counters"]["circular"] == 1; }, 20s));
  REQUIRE(a.waitLines(3));
  // Everything in flight settles before the hubs stop: b's outbox back to a is empty.
  REQUIRE(waitFor([&] {
    auto s = b.status();
    return !s["links"].empty() && s["links"][0]["backlog"] == 0;
  }));
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);

  const std::string log = readFile(a.operatorLog());
  CHECK(countOf(log, "REPORTHUB") == 3);
  CHECK(readLines(a.operatorLog()).size() == 3);
  CHECK(log.find("came back to a") != std::string::npos);
  CHECK(log.find("original report: origin a, category LOOP, info: round and round") !=
        std::string::npos);
  CHECK(log.find("route travelled: a -> b -> a") != std::string::npos);
  CHECK(readLines(b.operatorLog()).empty());
  // No further traffic: a sent it once, b took it once and sent it back once.
  const auto fa = finalStatus(a);
  const auto fb = finalStatus(b);
  CHECK(fa["counters"]["circular"] == 1);
  CHECK(fb["counters"]["accepted"] == 1);
  CHECK(fb["counters"]["circular"] == 0);
  CHECK(fa["counters"]["accepted"] == 1);  // the report; the returning copy is refused
}
