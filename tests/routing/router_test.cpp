// Tests for routing/router.cpp: category -> recipients translation with plain config values,
// grouped into one delivery per output (DESIGN §2).
#include "routing/router.h"

#include <catch2/catch.hpp>

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

TEST_CASE("sink names and bits", "[routing]") {
  CHECK(toString(Sink::local) == "local");
  CHECK(toString(Sink::printer) == "printer");
  CHECK(toString(Sink::desksend) == "desksend");
  CHECK(toString(Sink::ns_send) == "ns_send");
  CHECK(toString(Sink::ds_send) == "ds_send");
  // One distinct bit per sink, all within the mask type.
  CHECK(bit(Sink::local) == 0x01);
  CHECK(bit(Sink::printer) == 0x02);
  CHECK(bit(Sink::desksend) == 0x04);
  CHECK(bit(Sink::ns_send) == 0x08);
  CHECK(bit(Sink::ds_send) == 0x10);
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
    CHECK(r.sink_mask == (bit(Sink::local) | bit(Sink::desksend) | bit(Sink::ns_send)));
  }

  SECTION("APPERROR: operator and printer") {
    const Route& r = routeOf(router, "APPERROR");
    CHECK(r.recipients == std::vector<std::string>{"operator", "printer"});
    REQUIRE(r.sinks.size() == 2);
    CHECK(r.sinks[0].sink == Sink::local);
    CHECK(r.sinks[1].sink == Sink::printer);
    CHECK(r.sinks[1].targets == std::vector<Target>{{"printer", {}}});
    CHECK(r.sink_mask == (bit(Sink::local) | bit(Sink::printer)));
  }

  SECTION("two mail recipients: one desksend delivery with two targets") {
    const Route& r = routeOf(router, "MAIL");
    CHECK(r.recipients == std::vector<std::string>{"ops", "devs"});
    REQUIRE(r.sinks.size() == 1);
    CHECK(r.sinks[0].sink == Sink::desksend);
    CHECK(r.sinks[0].targets ==
          std::vector<Target>{{"ops", {"alice", "bob"}}, {"devs", {"carol"}}});
    CHECK(r.sink_mask == bit(Sink::desksend));
  }

  SECTION("two console names: one local delivery naming both") {
    const Route& r = routeOf(router, "CONSOLES");
    REQUIRE(r.sinks.size() == 1);
    CHECK(r.sinks[0].sink == Sink::local);
    CHECK(r.sinks[0].targets == std::vector<Target>{{"operator", {}}, {"console", {}}});
  }

  SECTION("every kind: each output once, in order of first appearance") {
    const Route& r = routeOf(router, "EVERYWHERE");
    REQUIRE(r.sinks.size() == 5);
    CHECK(r.sinks[0].sink == Sink::ds_send);
    CHECK(r.sinks[1].sink == Sink::ns_send);
    CHECK(r.sinks[2].sink == Sink::desksend);
    CHECK(r.sinks[3].sink == Sink::printer);
    CHECK(r.sinks[4].sink == Sink::local);
    CHECK(r.sinks[1].targets == std::vector<Target>{{"hq-operator", {"hq", "operator"}},
                                                    {"region-ops", {"region", "ops"}}});
    CHECK(r.sinks[0].targets == std::vector<Target>{{"syslog", {}}});
    CHECK(r.sink_mask == 0x1f);
  }

  SECTION("a category with no recipients routes nowhere") {
    const Route& r = routeOf(router, "NOWHERE");
    CHECK(r.recipients.empty());
    CHECK(r.sinks.empty());
    CHECK(r.sink_mask == 0);
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
    CHECK(r.sink_mask == (bit(Sink::local) | bit(Sink::printer)));
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
    CHECK(r->sink_mask == bit(Sink::local));
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
    CHECK(r->sink_mask == bit(Sink::ns_send));
  }
  SECTION("syslog and printer") {
    REQUIRE(router.recipient("syslog") != nullptr);
    CHECK(router.recipient("syslog")->sink_mask == bit(Sink::ds_send));
    REQUIRE(router.recipient("printer") != nullptr);
    CHECK(router.recipient("printer")->sink_mask == bit(Sink::printer));
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
