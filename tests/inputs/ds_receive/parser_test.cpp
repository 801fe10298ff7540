// Tests of syslog parsing (inputs/ds_receive/parser.h): the RFC 5424 examples and nil fields,
// structured data with escapes, RFC 3164 as logger, rsyslog and daemons send it, and what is
// refused.
#include "inputs/ds_receive/parser.h"

#include "common/report.h"

#include <catch2/catch.hpp>

#include <ctime>
#include <memory>
#include <string>

using namespace reporthub;
using namespace reporthub::inputs::ds_receive;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

// The parsed fields are views: the input is kept with them, on the heap so that moving a
// Parsed does not move the bytes they point into.
struct Parsed {
  std::unique_ptr<std::string> text;
  const char* error = nullptr;
  SyslogMessage m;
};

Parsed parse(std::string_view text, std::int64_t now = nowNs()) {
  static LocalTime local;
  Parsed p;
  p.text = std::make_unique<std::string>(text);
  p.error = parseSyslog(*p.text, p.m, local, now);
  return p;
}

std::int64_t utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm)) * kSecond;
}

// The local calendar fields of a parsed RFC 3164 time.
std::tm localOf(std::int64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / kSecond);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

}  // namespace

TEST_CASE("RFC 5424: the RFC's examples", "[ds_receive]") {
  SECTION("with structured data and a BOM before MSG") {
    const auto p = parse(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
        "\xEF\xBB\xBF"
        "An application event log entry...");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.format == SyslogMessage::Format::rfc5424);
    CHECK(p.m.facility == 20);
    CHECK(p.m.severity == 5);
    CHECK(p.m.ts_ns == utc(2003, 10, 11, 22, 14, 15) + 3'000'000);
    CHECK(p.m.host == "mymachine.example.com");
    CHECK(p.m.app == "evntslog");
    CHECK(p.m.procid.empty());
    CHECK(p.m.msgid == "ID47");
    CHECK(p.m.sd == "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]");
    CHECK(p.m.msg == "An application event log entry...");
  }
  SECTION("without structured data, with an offset") {
    const auto p = parse(
        "<34>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to "
        "make the do-nuts.");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.facility == 4);
    CHECK(p.m.severity == 2);
    CHECK(p.m.ts_ns == utc(2003, 8, 24, 12, 14, 15) + 3000);
    CHECK(p.m.host == "192.0.2.1");
    CHECK(p.m.app == "myproc");
    CHECK(p.m.procid == "8710");
    CHECK(p.m.msgid.empty());
    CHECK(p.m.sd.empty());
    CHECK(p.m.msg == "%% It's time to make the do-nuts.");
  }
  SECTION("two SD elements and no MSG") {
    const auto p = parse(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\"][examplePriority@32473 class=\"high\"]");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.sd == "[exampleSDID@32473 iut=\"3\"][examplePriority@32473 class=\"high\"]");
    CHECK(p.m.msg.empty());
  }
  SECTION("every field nil") {
    const auto p = parse("<13>1 - - - - - -");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.ts_ns == 0);
    CHECK(p.m.host.empty());
    CHECK(p.m.app.empty());
    CHECK(p.m.msg.empty());
  }
  SECTION("escaped quote, backslash and bracket in a param value") {
    const std::string sd = R"([a@1 x="q\"]\\\]" y="z w"][b@2])";
    const auto p = parse("<13>1 - h a - - " + sd + " text ] \"");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.sd == sd);
    CHECK(p.m.msg == "text ] \"");
  }
  SECTION("as logger sends it") {
    const auto p = parse(
        "<155>1 2026-11-22T08:08:51.397110+00:00 vm myapp 16423 - [timeQuality tzKnown=\"1\" "
        "isSynced=\"0\"] hello tcp");
    REQUIRE(p.error == nullptr);
    CHECK(p.m.facility == 19);
    CHECK(p.m.severity == 3);
    CHECK(p.m.host == "vm");
    CHECK(p.m.app == "myapp");
    CHECK(p.m.procid == "16423");
    CHECK(p.m.sd == "[timeQuality tzKnown=\"1\" isSynced=\"0\"]");
    CHECK(p.m.msg == "hello tcp");
    CHECK(p.m.ts_ns == utc(2026, 11, 22, 8, 8, 51) + 397'110'000);
  }
}

TEST_CASE("RFC 5424: broken headers are refused", "[ds_receive]") {
  CHECK(parse("<13>1 yesterday vm app - - - x").error != nullptr);
  CHECK(parse("<13>1 2026-02-30T00:00:00Z vm app - - - x").error != nullptr);
  CHECK(parse("<13>1 2026-11-22T08:08:51 vm app - - - x").error != nullptr);  // no zone
  CHECK(parse("<13>1 - vm app - - [unterminated x=\"1\" msg").error != nullptr);
  CHECK(parse("<13>1 - vm app - - [id x=\"1\"]glued").error != nullptr);
  CHECK(parse("<13>1 - vm app - - nosd").error != nullptr);
  CHECK(parse("<13>1 - vm app").error != nullptr);
  CHECK(parse("<13>1 - vm " + std::string(49, 'a') + " - - - x").error != nullptr);
  CHECK(parse("<13>1 - v\x01m app - - - x").error != nullptr);
}

TEST_CASE("bad PRI is refused", "[ds_receive]") {
  CHECK(parse("<192>1 - - - - - -").error != nullptr);
  CHECK(parse("<abc>hello").error != nullptr);
  CHECK(parse("<1234>hello").error != nullptr);
  CHECK(parse("<>hello").error != nullptr);
  CHECK(parse("<13").error != nullptr);
  CHECK(parse("<13>").error != nullptr);  // nothing at all
}

TEST_CASE("RFC 3164 as senders write it", "[ds_receive]") {
  const std::int64_t now = nowNs();
  const std::tm today = localOf(now);
  SECTION("the RFC's example: HOST TAG: MSG") {
    const auto p = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.format == SyslogMessage::Format::rfc3164);
    CHECK(p.m.facility == 4);
    CHECK(p.m.severity == 2);
    CHECK(p.m.host == "mymachine");
    CHECK(p.m.app == "su");
    CHECK(p.m.procid.empty());
    CHECK(p.m.msg == "'su root' failed for lonvick");
    const std::tm t = localOf(p.m.ts_ns);
    CHECK(t.tm_mon == 9);
    CHECK(t.tm_mday == 11);
    CHECK(t.tm_hour == 22);
    CHECK(t.tm_min == 14);
    CHECK(t.tm_sec == 15);
    CHECK((t.tm_year == today.tm_year || t.tm_year == today.tm_year - 1));
  }
  SECTION("logger --rfc3164") {
    const auto p = parse("<13>Nov 22 08:08:51 vm myapp: hello 3164", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.host == "vm");
    CHECK(p.m.app == "myapp");
    CHECK(p.m.msg == "hello 3164");
  }
  SECTION("without HOST, with PID, as local daemons write it") {
    const auto p = parse("<30>Nov  2 08:08:51 sshd[4242]: Accepted publickey for root", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.host.empty());
    CHECK(p.m.app == "sshd");
    CHECK(p.m.procid == "4242");
    CHECK(p.m.msg == "Accepted publickey for root");
    CHECK(localOf(p.m.ts_ns).tm_mday == 2);
  }
  SECTION("HOST and TAG[PID]") {
    const auto p = parse("<30>Nov 22 08:08:51 web1 nginx[77]: upstream timed out", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.host == "web1");
    CHECK(p.m.app == "nginx");
    CHECK(p.m.procid == "77");
    CHECK(p.m.msg == "upstream timed out");
  }
  SECTION("rsyslog's RSYSLOG_ForwardFormat: an RFC 3339 timestamp") {
    const auto p =
        parse("<86>2026-11-22T08:08:51.123456+01:00 gw sudo[9]:  alice : TTY=pts/0 ; ok", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.format == SyslogMessage::Format::rfc3164);
    CHECK(p.m.facility == 10);
    CHECK(p.m.severity == 6);
    CHECK(p.m.ts_ns == utc(2026, 11, 22, 7, 8, 51) + 123'456'000);
    CHECK(p.m.host == "gw");
    CHECK(p.m.app == "sudo");
    CHECK(p.m.procid == "9");
    CHECK(p.m.msg == " alice : TTY=pts/0 ; ok");
  }
  SECTION("after HOST the next word is the TAG, also without a colon (as rsyslog reads it)") {
    auto p = parse("<13>Nov 22 08:08:51 switch7 linkd down on port 3", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.host == "switch7");
    CHECK(p.m.app == "linkd");
    CHECK(p.m.msg == "down on port 3");
    // rsyslog's RSYSLOG_ForwardFormat of a message that came in as RFC 5424.
    p = parse("<34>2026-11-22T08:39:54.603+00:00 vm relayed through rsyslog", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.host == "vm");
    CHECK(p.m.app == "relayed");
    CHECK(p.m.msg == "through rsyslog");
  }
  SECTION("no timestamp: TAG: MSG, or only MSG") {
    auto p = parse("<13>myapp: hello", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.app == "myapp");
    CHECK(p.m.msg == "hello");
    CHECK(p.m.ts_ns == 0);
    p = parse("<13>hello world", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.app.empty());
    CHECK(p.m.msg == "hello world");
  }
  SECTION("no PRI: user.notice (RFC 3164 4.3.3)") {
    auto p = parse("Nov 22 08:08:51 host app: text", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.facility == 1);
    CHECK(p.m.severity == 5);
    CHECK(p.m.host == "host");
    CHECK(p.m.msg == "text");
    p = parse("just text", now);
    REQUIRE(p.error == nullptr);
    CHECK(p.m.msg == "just text");
  }
  SECTION("December's message read in January is last year's") {
    const std::int64_t jan = utc(2027, 1, 2, 12, 0, 0);
    const auto p = parse("<13>Dec 31 23:59:59 h a: late", jan);
    REQUIRE(p.error == nullptr);
    CHECK(localOf(p.m.ts_ns).tm_year + 1900 == 2026);
  }
  SECTION("a date that does not exist is no timestamp") {
    const auto p = parse("<13>Feb 30 10:00:00 h a: x", utc(2026, 3, 1, 0, 0, 0));
    REQUIRE(p.error == nullptr);
    CHECK(p.m.ts_ns == 0);
  }
}

TEST_CASE("RFC 3339 timestamps", "[ds_receive]") {
  std::int64_t ns = 0;
  CHECK(parseRfc3339("1985-04-12T23:20:50.52Z", ns));
  CHECK(ns == utc(1985, 4, 12, 23, 20, 50) + 520'000'000);
  CHECK(parseRfc3339("2026-11-22T08:08:51+05:30", ns));
  CHECK(ns == utc(2026, 11, 22, 2, 38, 51));
  CHECK(parseRfc3339("2024-02-29T00:00:00.123456789Z", ns));
  CHECK(ns == utc(2024, 2, 29, 0, 0, 0) + 123'456'789);
  CHECK_FALSE(parseRfc3339("2023-02-29T00:00:00Z", ns));
  CHECK_FALSE(parseRfc3339("2026-11-22T08:08:51.Z", ns));
  CHECK_FALSE(parseRfc3339("2026-11-22T08:08:51.1234567890Z", ns));
  CHECK_FALSE(parseRfc3339("2026-11-22T24:00:00Z", ns));
  CHECK_FALSE(parseRfc3339("2026-11-22 08:08:51Z", ns));
  CHECK_FALSE(parseRfc3339("2026-11-22T08:08:51Zjunk", ns));
}
