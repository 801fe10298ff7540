// Reports from remote nodes as the hub takes them (DESIGN §2): routed to the recipient they
// name with no second category translation, and refused as circular errors when they come
// back or travel too far. A raw child-protocol client stands in for ns_receive here, so the
// hub's rules are tested on their own; tests/integration/ns_test.cpp runs real links.
#include "common/report.h"
#include "common/wire.h"
#include "common/zmq_util.h"
#include "tests/support/harness.h"
#include "tests/support/reports.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <zmq.hpp>

using namespace reporthub;
using namespace reporthub::test;

namespace {

// DISK goes to the printer here; a remote report for "operator" must not follow it.
const std::string kConfig =
    "outputs:\n"
    "  printer: { spool: var/spool }\n"
    "recipients:\n"
    "  operator: local\n"
    "  printer: printer\n"
    "categories:\n"
    "  DISK: [printer]\n"
    "  default: [printer]\n";

// A connection on the hub's child socket that says what ns_receive says.
class RemoteFeed {
 public:
  explicit RemoteFeed(const Hub& hub) : socket_(ctx_, zmq::socket_type::dealer) {
    zmqu::configure(socket_, 1000, std::chrono::milliseconds(0));
    socket_.connect(hub.childEndpoint());
    send({wire::encode(wire::Hello{"ns_receive", "feed", getpid(), wire::Kind::input, 0})});
    zmq::message_t reply;
    REQUIRE(socket_.recv(reply));
  }

  // Submits a report from `origin` that travelled `via`, for `recipient` on this node.
  std::string submit(const std::string& origin, const std::vector<std::string>& via,
                     const std::string& recipient, const std::string& text) {
    Report r = test::newReport(origin, "check", "DISK", text);
    r.severity = Severity::warning;
    r.via = via;
    send({wire::encode(wire::Submit{++seq_, r.id, r.category, recipient, via}), encodeReport(r)});
    return r.id;
  }

 private:
  void send(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::uint64_t seq_ = 0;
};

}  // namespace

TEST_CASE("a remote report goes to the recipient it names, not where its category goes",
          "[relay][integration]") {
  Hub hub(kConfig);
  hub.start();
  RemoteFeed feed(hub);
  const std::string id = feed.submit("site", {"site", "region"}, "operator", "disk 91% at site");
  REQUIRE(hub.waitLines(1));
  const std::string log = readFile(hub.operatorLog());
  CHECK(log.find("site DISK warning disk 91% at site (via site > region) [" + id + "]") !=
        std::string::npos);
  CHECK(log.find(id) != std::string::npos);
  // DISK's own route (the printer) is not taken.
  CHECK(countFiles(hub.dir() / "var/spool") == 0);
  auto st = hub.status();
  CHECK(st["counters"]["circular"] == 0);
  CHECK(st["counters"]["unknown_recipient"] == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("a remote report for a recipient not defined here follows its category",
          "[relay][integration]") {
  Hub hub(kConfig);
  hub.start();
  RemoteFeed feed(hub);
  feed.submit("site", {"site"}, "nobody-here", "lost recipient");
  feed.submit("site", {"site"}, "nobody-here", "lost again");
  REQUIRE(waitFor([&] { return countFiles(hub.dir() / "var/spool") == 2; }));
  auto st = hub.status();
  CHECK(st["counters"]["unknown_recipient"] == 2);
  // Counted for each, logged once.
  const std::string log = readFile(hub.hubLog());
  const auto first = log.find("names recipient 'nobody-here'");
  CHECK(first != std::string::npos);
  CHECK(log.find("names recipient 'nobody-here'", first + 1) == std::string::npos);
  CHECK(hub.stop() == 0);
}

TEST_CASE("a report that comes back is a circular error: three operator messages, nothing else",
          "[relay][integration]") {
  Hub hub(kConfig);
  hub.start();
  RemoteFeed feed(hub);
  const std::string id = feed.submit("alpha", {"alpha", "beta"}, "operator", "went round");
  REQUIRE(hub.waitLines(3));
  const std::string log = readFile(hub.operatorLog());
  CHECK(countOf(log, "REPORTHUB") == 3);
  CHECK(log.find("circular route: report " + id) != std::string::npos);
  CHECK(log.find("came back to alpha") != std::string::npos);
  CHECK(log.find("original report: origin alpha, category DISK, warning: went round") !=
        std::string::npos);
  CHECK(log.find("route travelled: alpha -> beta -> alpha") != std::string::npos);
  // The report itself is delivered nowhere.
  CHECK(log.find("DISK warning went round") == std::string::npos);
  CHECK(countFiles(hub.dir() / "var/spool") == 0);
  auto st = hub.status();
  CHECK(st["counters"]["circular"] == 1);
  CHECK(hub.stop() == 0);
  CHECK(readLines(hub.operatorLog()).size() == 3);
}

TEST_CASE("more than max_hops hops is a circular error too", "[relay][integration]") {
  Hub hub("max_hops: 2\n" + kConfig);
  hub.start();
  RemoteFeed feed(hub);
  feed.submit("n1", {"n1", "n2"}, "operator", "two hops is fine");
  feed.submit("n1", {"n1", "n2", "n3"}, "operator", "three is too many");
  REQUIRE(hub.waitLines(4));
  const std::string log = readFile(hub.operatorLog());
  CHECK(log.find("n1 DISK warning two hops is fine") != std::string::npos);
  CHECK(log.find("made 3 hops, more than max_hops (2)") != std::string::npos);
  CHECK(log.find("route travelled: n1 -> n2 -> n3 -> alpha") != std::string::npos);
  CHECK(hub.status()["counters"]["circular"] == 1);
  CHECK(hub.stop() == 0);
}
