// Tests for routing/router.cpp: category -> recipients translation with plain config values,
// grouped into one delivery per output (DESIGN §2).
#include "routing/router.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace reporthub;
using namespace reporthub::routing;
using config::Config;
using wire::Target;

namespace {

// The DESIGN §5 example, plus a second mailbox group and a second console name.
Config sampleConfig() {
  Config cfg;
  cfg.node = "alpha";
  cfg.recipients = {
      {"operator", config::LocalRecipient{}},
      {"console", config::LocalRecipient{}},
      {"printer", config::PrinterRecipient{}},
      {"ops", config::MailRecipient{{"alice", "bob"}}},
      {"devs", config::MailRecipient{{"carol"}}},
      {"hq-operator", config::NodeRecipient{"hq", "operator"}},
      {"region-ops", config::NodeRecipient{"region", "ops"}},
      {"syslog", config::DsSendRecipient{}},
  };
  cfg.categories = {
      {"DISK", {"operator", "ops", "hq-operator"}},
      {"APPERROR", {"operator", "printer"}},
      {"MAIL", {"ops", "devs"}},
      {"TWICE", {"operator", "ops", "operator", "ops"}},
      {"CONSOLES", {"operator", "console"}},
      {"EVERYWHERE", {"syslog", "hq-operator", "devs", "printer", "operator", "region-ops"}},
      {"NOWHERE", {}},
      {"default", {"operator"}},
  };
  return cfg;
}

const Route& routeOf(const Router& router, std::string_view category) {
  bool is_default = true;
  const Route& r = router.route(category, is_default);
  INFO("category " << category);
  CHECK_FALSE(is_default);
  return r;
}

}  // namespace

// Router(cfg) numbers channels itself: the outputs in Sink order, then nodes as met (the
// recipients in name order first: hq before region).
constexpr std::uint64_t kLocal = 1u << 0, kPrinter = 1u << 1, kDesksend = 1u << 2,
                        kDsSend = 1u << 4, kHq = 1u << 5, kRegion = 1u << 6;

TEST_CASE("sink names, channel names and channel bits", "[routing]") {
  CHECK(toString(Sink::local) == "local");
  CHECK(toString(Sink::printer) == "printer");
  CHECK(toString(Sink::desksend) == "desksend");
  CHECK(toString(Sink::ns_send) == "ns_send");
  CHECK(toString(Sink::ds_send) == "ds_send");
  // A channel is named after the process serving it: one per node for ns_send.
  CHECK(channelName(config::LocalRecipient{}) == "local");
  CHECK(channelName(config::MailRecipient{{"alice"}}) == "desksend");
  CHECK(channelName(config::DsSendRecipient{}) == "ds_send");
  CHECK(channelName(config::NodeRecipient{"hq", "operator"}) == "ns_send:hq");
  // One distinct bit per channel, all within the mask type.
  CHECK(channelBit(0) == 0x01);
  CHECK(channelBit(5) == 0x20);
  CHECK(channelBit(kMaxChannels - 1) == std::uint64_t{1} << 63);
}

TEST_CASE("a router takes the channel numbers it is given", "[routing]") {
  std::vector<std::string> asked;
  const Router router(sampleConfig(), [&](const std::string& name) {
    auto it = std::find(asked.begin(), asked.end(), name);
    if (it == asked.end()) it = asked.insert(asked.end(), name);
    return static_cast<ChannelId>(40 + (it - asked.begin()));
  });
  const Route& r = routeOf(router, "DISK");
  REQUIRE(r.sinks.size() == 3);
  std::uint64_t mask = 0;
  for (const auto& d : r.sinks) {
    const auto& name = asked.at(d.channel - 40);
    CHECK(name == (d.sink == Sink::ns_send ? "ns_send:hq" : std::string(toString(d.sink))));
    mask |= channelBit(d.channel);
  }
  CHECK(r.channel_mask == mask);
}

TEST_CASE("relayProblem: a loop or too many hops", "[routing]") {
  using V = std::vector<std::string>;
  CHECK(relayProblem({}, "hq", 8).empty());
  CHECK(relayProblem(V{"site", "region"}, "hq", 8).empty());
  CHECK(relayProblem(V{"site", "hq", "region"}, "hq", 8).find("loop") != std::string::npos);
  CHECK(relayProblem(V{"a", "b"}, "a", 8).find("came back to a") != std::string::npos);
  const V eight{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"};
  CHECK(relayProblem(eight, "hq", 8).empty());  // exactly max_hops is allowed
  V nine = eight;
  nine.push_back("n9");
  CHECK(relayProblem(nine, "hq", 8).find("9 hops, more than max_hops (8)") != std::string::npos);
  CHECK(relayProblem(V{"a", "b"}, "hq", 1).find("more than max_hops (1)") != std::string::npos);
}

TEST_CASE("a category routes to its recipients, grouped by output", "[routing]") {
  const Router router(sampleConfig());

  SECTION("DISK: operator, ops, hq-operator") {
    const Route& r = routeOf(router, "DISK");
    CHECK(r.recipients == std::vector<std::string>{"operator", "ops", "hq-operator"});
    REQUIRE(r.sinks.size() == 3);
    CHECK(r.sinks[0].sink == Sink::local);
    CHECK(r.sinks[0].targets == std::vector<Target>{{"operator", {}}});
    CHECK(r.sinks[1].sink == Sink::desksend);
    CHECK(r.sinks[1].targets == std::vector<Target>{{"ops", {"alice", "bob"}}});
    CHECK(r.sinks[2].sink == Sink::ns_send);
    CHECK(r.sinks[2].targets == std::vector<Target>{{"hq-operator", {"hq", "operator"}}});
    CHECK(r.sinks[2].channel == 5);
    CHECK(r.channel_mask == (kLocal | kDesksend | kHq));
  }

  SECTION("APPERROR: operator and printer") {
    const Route& r = routeOf(router, "APPERROR");
    CHECK(r.recipients == std::vector<std::string>{"operator", "printer"});
    REQUIRE(r.sinks.size() == 2);
    CHECK(r.sinks[0].sink == Sink::local);
    CHECK(r.sinks[1].sink == Sink::printer);
    CHECK(r.sinks[1].targets == std::vector<Target>{{"printer", {}}});
    CHECK(r.channel_mask == (kLocal | kPrinter));
  }

  SECTION("two mail recipients: one desksend delivery with two targets") {
    const Route& r = routeOf(router, "MAIL");
    CHECK(r.recipients == std::vector<std::string>{"ops", "devs"});
    REQUIRE(r.sinks.size() == 1);
    CHECK(r.sinks[0].sink == Sink::desksend);
    CHECK(r.sinks[0].targets ==
          std::vector<Target>{{"ops", {"alice", "bob"}}, {"devs", {"carol"}}});
    CHECK(r.channel_mask == kDesksend);
  }

  SECTION("two console names: one local delivery naming both") {
    const Route& r = routeOf(router, "CONSOLES");
    REQUIRE(r.sinks.size() == 1);
    CHECK(r.sinks[0].sink == Sink::local);
    CHECK(r.sinks[0].targets == std::vector<Target>{{"operator", {}}, {"console", {}}});
  }

  SECTION("every kind: each channel once, in order of first appearance, one per node") {
    const Route& r = routeOf(router, "EVERYWHERE");
    REQUIRE(r.sinks.size() == 6);
    CHECK(r.sinks[0].sink == Sink::ds_send);
    CHECK(r.sinks[1].sink == Sink::ns_send);
    CHECK(r.sinks[2].sink == Sink::desksend);
    CHECK(r.sinks[3].sink == Sink::printer);
    CHECK(r.sinks[4].sink == Sink::local);
    CHECK(r.sinks[5].sink == Sink::ns_send);
    CHECK(r.sinks[1].targets == std::vector<Target>{{"hq-operator", {"hq", "operator"}}});
    CHECK(r.sinks[5].targets == std::vector<Target>{{"region-ops", {"region", "ops"}}});
    CHECK(r.sinks[1].channel != r.sinks[5].channel);
    CHECK(r.sinks[0].targets == std::vector<Target>{{"syslog", {}}});
    CHECK(r.channel_mask == (kDsSend | kHq | kDesksend | kPrinter | kLocal | kRegion));
  }

  SECTION("a category with no recipients routes nowhere") {
    const Route& r = routeOf(router, "NOWHERE");
    CHECK(r.recipients.empty());
    CHECK(r.sinks.empty());
    CHECK(r.channel_mask == 0);
  }
}

TEST_CASE("a recipient listed twice under one category is delivered once", "[routing]") {
  const Router router(sampleConfig());
  const Route& r = routeOf(router, "TWICE");
  CHECK(r.recipients == std::vector<std::string>{"operator", "ops"});
  REQUIRE(r.sinks.size() == 2);
  CHECK(r.sinks[0].targets.size() == 1);
  CHECK(r.sinks[1].targets == std::vector<Target>{{"ops", {"alice", "bob"}}});
}

TEST_CASE("unknown categories get the default route and say so", "[routing]") {
  Config cfg = sampleConfig();
  cfg.categories["default"] = {"operator", "printer"};
  const Router router(cfg);

  for (const char* unknown : {"NOPE", "", "disk", "DISK ", " DISK", "DIS", "DISKS", "Default"}) {
    INFO("category '" << unknown << "'");
    bool is_default = false;
    const Route& r = router.route(unknown, is_default);
    CHECK(is_default);
    CHECK(r.recipients == std::vector<std::string>{"operator", "printer"});
    CHECK(r.channel_mask == (kLocal | kPrinter));
  }
}

TEST_CASE("a known category is never flagged default, even one literally named default",
          "[routing]") {
  Config cfg = sampleConfig();
  cfg.categories["default"] = {"printer"};
  const Router router(cfg);

  bool is_default = true;
  const Route& disk = router.route("DISK", is_default);
  CHECK_FALSE(is_default);
  CHECK(disk.recipients.size() == 3);

  // A report whose category is the word "default" names a configured category: it is
  // routed there, but it is not an unknown category to be counted.
  is_default = true;
  const Route& named = router.route("default", is_default);
  CHECK_FALSE(is_default);
  CHECK(named.recipients == std::vector<std::string>{"printer"});

  // is_default is overwritten on every call, not just set.
  is_default = false;
  router.route("UNKNOWN", is_default);
  CHECK(is_default);
  router.route("APPERROR", is_default);
  CHECK_FALSE(is_default);
}

TEST_CASE("recipient() resolves one name of this node, for relayed reports", "[routing]") {
  const Router router(sampleConfig());

  SECTION("a local recipient") {
    const Route* r = router.recipient("operator");
    REQUIRE(r != nullptr);
    CHECK(r->recipients == std::vector<std::string>{"operator"});
    REQUIRE(r->sinks.size() == 1);
    CHECK(r->sinks[0].sink == Sink::local);
    CHECK(r->channel_mask == kLocal);
  }
  SECTION("a mail recipient carries its users") {
    const Route* r = router.recipient("ops");
    REQUIRE(r != nullptr);
    REQUIRE(r->sinks.size() == 1);
    CHECK(r->sinks[0].sink == Sink::desksend);
    CHECK(r->sinks[0].targets == std::vector<Target>{{"ops", {"alice", "bob"}}});
  }
  SECTION("a node recipient relays onward to ns_send") {
    const Route* r = router.recipient("hq-operator");
    REQUIRE(r != nullptr);
    REQUIRE(r->sinks.size() == 1);
    CHECK(r->sinks[0].sink == Sink::ns_send);
    CHECK(r->sinks[0].targets == std::vector<Target>{{"hq-operator", {"hq", "operator"}}});
    CHECK(r->channel_mask == kHq);
  }
  SECTION("syslog and printer") {
    REQUIRE(router.recipient("syslog") != nullptr);
    CHECK(router.recipient("syslog")->channel_mask == kDsSend);
    REQUIRE(router.recipient("printer") != nullptr);
    CHECK(router.recipient("printer")->channel_mask == kPrinter);
  }
  SECTION("unknown names, and category names, are not recipients") {
    CHECK(router.recipient("nobody") == nullptr);
    CHECK(router.recipient("") == nullptr);
    CHECK(router.recipient("OPERATOR") == nullptr);
    CHECK(router.recipient("DISK") == nullptr);
    CHECK(router.recipient("default") == nullptr);
  }
}

TEST_CASE("routes are computed from the config given, and stay with the router", "[routing]") {
  Config cfg = sampleConfig();
  const Router router(cfg);
  // Changing the config afterwards does not change the routing table already built:
  // reload swaps in a new Router instead.
  cfg.categories["DISK"] = {"printer"};
  cfg.recipients["ops"] = config::MailRecipient{{"mallory"}};
  const Route& r = routeOf(router, "DISK");
  CHECK(r.recipients == std::vector<std::string>{"operator", "ops", "hq-operator"});
  CHECK(r.sinks[1].targets == std::vector<Target>{{"ops", {"alice", "bob"}}});
  // And the same category gives the same Route object every time (computed once).
  bool d = false;
  CHECK(&router.route("DISK", d) == &r);
}
