// End-to-end tests of hub-to-hub forwarding (DESIGN §2, §3): two real hubs on loopback, each
// in its own temporary directory, a site whose category is routed to {node: hq} and an hq
// whose ns_receive listens on a port chosen at run time. Store and forward while hq is down,
// kill -9 of either end of the link mid-stream, and CURVE authentication.
#include "tests/support/harness.h"
#include "tests/support/net.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <set>

namespace fs = std::filesystem;
using namespace reporthub::test;
using nlohmann::json;

namespace {

std::string hqConfig(int port, const std::string& extra = "") {
  return "inputs:\n"
         "  ns_receive:\n"
         "    listen: tcp://127.0.0.1:" +
         std::to_string(port) + "\n" + extra +
         "outputs:\n"
         "  local: { format: json }\n";
}

// `emit` > 0 adds a test input that submits that many NS reports at start.
std::string siteConfig(int port, int emit = 0, const std::string& ns_send = "",
                       const std::string& node_extra = "") {
  std::string yaml = "outputs:\n  ns_send: { heartbeat: 200ms, timeout: 1s" + ns_send +
                     " }\n"
                     "nodes:\n"
                     "  hq: { address: 'tcp://127.0.0.1:" +
                     std::to_string(port) + "'" + node_extra +
                     " }\n"
                     "recipients:\n"
                     "  operator: local\n"
                     "  hq-operator: { node: hq, recipient: operator }\n"
                     "categories:\n"
                     "  NS: [hq-operator]\n"
                     "  default: [operator]\n";
  if (emit > 0) {
    yaml += "inputs:\n  testproc:\n    - { name: load, mode: emit, count: " + std::to_string(emit) +
            ", category: NS }\n";
  }
  return yaml;
}

// The NS reports in a JSON operator log, by id, with how often each appears.
std::map<std::string, int> nsIds(const fs::path& log) {
  std::map<std::string, int> ids;
  for (const auto& line : readLines(log)) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object() || j["category"] != "NS") continue;
    ++ids[j["id"].get<std::string>()];
  }
  return ids;
}

// Lines of NS reports in a JSON operator log: cheap enough to poll while reports stream in.
std::size_t nsLines(const fs::path& log) {
  const std::string text = readFile(log);
  std::size_t n = 0;
  for (auto pos = text.find("\"category\":\"NS\""); pos != std::string::npos;
       pos = text.find("\"category\":\"NS\"", pos + 1)) {
    ++n;
  }
  return n;
}

std::size_t repeats(const std::map<std::string, int>& ids) {
  std::size_t n = 0;
  for (const auto& [id, count] : ids)
    n += count > 1;
  return n;
}

pid_t pidOf(Hub& hub, const std::string& id) {
  auto p = hub.processStatus(id);
  return p.is_object() ? p["pid"].get<pid_t>() : 0;
}

std::uint64_t accepted(Hub& hub) {
  auto st = hub.status();
  return st.is_object() ? st["counters"]["accepted"].get<std::uint64_t>() : 0;
}

bool logHas(const fs::path& log, const std::string& text) {
  return readFile(log).find(text) != std::string::npos;
}

// `reporthub keygen -o DIR/NAME`; returns the public key it wrote.
std::string keygen(const TempDir& dir, const std::string& name) {
  const auto r = runCommand({reporthubBin(), "keygen", "-o", (dir / name).string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string pub = readFile(dir / (name + ".pub"));
  REQUIRE(pub.size() == 41);
  pub.pop_back();
  return pub;
}

}  // namespace

TEST_CASE("a report for a remote recipient reaches its operator log with origin and via",
          "[ns][integration]") {
  const int port = freePort();
  Hub hq(hqConfig(port), "hq");
  hq.start();
  Hub site(siteConfig(port), "site");
  site.start();
  const auto r = site.hubctl({"report", "-C", "NS", "-s", "warning", "-a", "disk=/", "hello hq"});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(waitFor([&] { return nsIds(hq.operatorLog()).count(id) == 1; }));
  json line;
  for (const auto& l : readLines(hq.operatorLog())) {
    auto j = json::parse(l, nullptr, false);
    if (j.is_object() && j["id"] == id) line = j;
  }
  CHECK(line["origin"] == "site");
  CHECK(line["via"] == json::array({"site"}));
  CHECK(line["text"] == "hello hq");
  CHECK(line["severity"] == "warning");
  CHECK(line["attrs"]["disk"] == "/");
  // Acknowledged end to end: nothing waits at the site, and status shows the link up.
  json link;
  REQUIRE(waitFor([&] {
    auto st = site.status();
    if (!st.is_object()) return false;
    for (const auto& l : st["links"]) {
      if (l["node"] == "hq") link = l;
    }
    return link.is_object() && link["backlog"] == 0 && link["delivered"] == 1;
  }));
  CHECK(link["connected"] == true);
  CHECK(link["since_ns"].get<std::int64_t>() > 0);
  CHECK(link["address"] == "tcp://127.0.0.1:" + std::to_string(port));
  CHECK(link["last_error"] == "");
  CHECK(logHas(hq.hubLog(), "link from node site (127.0.0.1) is up"));
  CHECK(site.stop() == 0);
  CHECK(hq.stop() == 0);
}

TEST_CASE("reports wait at the site while hq is down and arrive exactly once when it is back",
          "[ns][integration]") {
  constexpr int kReports = 10'000;
  const int port = freePort();
  Hub site(siteConfig(port, kReports), "site");
  site.start();
  // All of them journaled at the site while nothing listens at hq.
  REQUIRE(waitFor([&] { return accepted(site) >= kReports; }, 30s, 50ms));
  // Long enough that ns_send handed what it held back to the journal: the hub's retry brings
  // it again once hq is up.
  REQUIRE(waitFor([&] {
    return logHas(site.hubLog(), "without acknowledgement; handed back to the hub's journal");
  }));
  CHECK(logHas(site.hubLog(), "is down: no answer for 600ms to hello (cannot connect"));
  {
    auto st = site.status();
    REQUIRE(st.is_object());
    const json link = st["links"][0];
    CHECK(link["connected"] == false);
    CHECK(link["backlog"].get<int>() == kReports);
    CHECK(link["last_error"].get<std::string>().find("cannot connect") != std::string::npos);
  }
  Hub hq(hqConfig(port), "hq");
  hq.start();
  std::map<std::string, int> ids;
  REQUIRE(waitFor(
      [&] {
        ids = nsIds(hq.operatorLog());
        return ids.size() >= static_cast<std::size_t>(kReports);
      },
      60s, 50ms));
  CHECK(site.stop() == 0);
  CHECK(hq.stop() == 0);
  ids = nsIds(hq.operatorLog());
  CHECK(ids.size() == static_cast<std::size_t>(kReports));
  CHECK(repeats(ids) == 0);
}

TEST_CASE("kill -9 of ns_send or of ns_receive mid-stream loses nothing and repeats nothing",
          "[ns][integration]") {
  // hq takes 1,000 reports/s from a link (after a first 1,000 at once; a new link after the
  // kill gets that again), so the kill at 1,500 is mid-stream however fast the machine is.
  constexpr int kReports = 5'000;
  const std::string victim = GENERATE(as<std::string>{}, "ns_send", "ns_receive");
  INFO("killed: " << victim);
  const int port = freePort();
  Hub hq(hqConfig(port, "    max_rate: 1000\n"), "hq");
  hq.start();
  Hub site(siteConfig(port, kReports), "site");
  site.start();
  Hub& owner = victim == "ns_send" ? site : hq;
  const std::string id = victim == "ns_send" ? "ns_send:hq" : "ns_receive";
  const pid_t pid = pidOf(owner, id);
  REQUIRE(pid > 0);
  // Mid-stream: some reports are through, most are not.
  REQUIRE(waitFor([&] { return nsLines(hq.operatorLog()) >= 1'500; }, 30s, 5ms));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK(nsLines(hq.operatorLog()) < static_cast<std::size_t>(kReports));
  REQUIRE(waitFor([&] {
    const pid_t now = pidOf(owner, id);
    return now > 0 && now != pid;
  }));
  std::map<std::string, int> ids;
  REQUIRE(waitFor(
      [&] {
        ids = nsIds(hq.operatorLog());
        return ids.size() >= static_cast<std::size_t>(kReports);
      },
      60s, 50ms));
  CHECK(ids.size() < static_cast<std::size_t>(kReports) + 1);
  CHECK(site.stop() == 0);
  CHECK(hq.stop() == 0);
  ids = nsIds(hq.operatorLog());
  CHECK(ids.size() == static_cast<std::size_t>(kReports));
  CHECK(repeats(ids) == 0);
}

TEST_CASE("keygen writes a key pair once and refuses to overwrite it", "[ns][integration]") {
  TempDir dir;
  const std::string pub = keygen(dir, "hq");
  struct stat st {};
  REQUIRE(stat((dir / "hq.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(readFile(dir / "hq.key").find(pub) != std::string::npos);  // named in a comment
  const std::string before = readFile(dir / "hq.key");
  const auto again = runCommand({reporthubBin(), "keygen", "-o", (dir / "hq").string()});
  CHECK(again.code == 5);
  CHECK(again.err.find("exists; not overwritten") != std::string::npos);
  CHECK(readFile(dir / "hq.key") == before);
}

TEST_CASE("CURVE admits allowed keys only, and a key cannot claim another node",
          "[ns][integration]") {
  TempDir keys;
  const std::string hq_pub = keygen(keys, "hq");
  const std::string site_pub = keygen(keys, "site");
  const std::string region_pub = keygen(keys, "region");
  keygen(keys, "intruder");
  writeFile(keys / "clients",
            "# nodes that may send to hq\nsite " + site_pub + "\nregion " + region_pub + "\n");
  const int port = freePort();
  Hub hq(hqConfig(port, "    curve: { secret_key: " + (keys / "hq.key").string() +
                            ", allowed_clients: " + (keys / "clients").string() + " }\n"),
         "hq");
  hq.start();
  const std::string pinned = ", public_key: '" + hq_pub + "'";

  SECTION("an allowed key works") {
    Hub site(siteConfig(port, 0, ", secret_key: " + (keys / "site.key").string(), pinned), "site");
    site.start();
    const auto r = site.hubctl({"report", "-C", "NS", "over CURVE"});
    REQUIRE(r.code == 0);
    const std::string id = r.out.substr(0, r.out.find('\n'));
    REQUIRE(waitFor([&] { return nsIds(hq.operatorLog()).count(id) == 1; }));
    CHECK(site.stop() == 0);
  }
  SECTION("an unknown key is refused, counted and logged with its address") {
    Hub site(siteConfig(port, 0, ", secret_key: " + (keys / "intruder.key").string(), pinned),
             "site");
    site.start();
    REQUIRE(site.hubctl({"report", "-C", "NS", "let me in"}).code == 0);
    REQUIRE(waitFor(
        [&] { return logHas(hq.hubLog(), "refused a connection from 127.0.0.1: its CURVE key"); }));
    CHECK(logHas(hq.hubLog(), "is not in allowed_clients; counted"));
    REQUIRE(
        waitFor([&] { return logHas(site.hubLog(), "the node refused this node's CURVE key"); }));
    CHECK(nsIds(hq.operatorLog()).empty());
    site.process().killAll();
  }
  SECTION("a valid key claiming another node's name is refused") {
    // region's key, but this hub says it is site.
    Hub site(siteConfig(port, 0, ", secret_key: " + (keys / "region.key").string(), pinned),
             "site");
    site.start();
    REQUIRE(site.hubctl({"report", "-C", "NS", "I am site, honest"}).code == 0);
    REQUIRE(waitFor([&] {
      return logHas(hq.hubLog(), "a peer cannot claim to be another node: its key is region's");
    }));
    REQUIRE(waitFor([&] { return logHas(site.hubLog(), "refused by hq: a peer cannot claim"); }));
    CHECK(nsIds(hq.operatorLog()).empty());
    site.process().killAll();
  }
  CHECK(hq.stop() == 0);
}
