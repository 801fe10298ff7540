// The ds_send output against a loopback listener the test controls: batches go out as
// octet-counted RFC 5424 frames, a redelivered report is recognised by id, and after a
// connection that ended in a reset the batches confirmed last on it go out again first,
// while after an orderly close nothing is sent twice.
#include "outputs/ds_send/ds_send.h"

#include "tests/outputs/ds_send/listener.h"
#include "tests/support/reports.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace reporthub;
using namespace reporthub::outputs::ds_send;
using reporthub::test::Listener;
using namespace std::chrono_literals;

namespace {

config::Config configFor(const test::TempDir& dir, const Listener& server) {
  config::Config cfg;
  cfg.node = "alpha";
  cfg.state_dir = dir / "var";
  config::DsSendOutput d;
  d.target = server.target();
  d.timeout = 2s;
  cfg.outputs.ds_send = d;
  return cfg;
}

Report report(const std::string& text) {
  return test::newReport("alpha", "jcl", "DISK", text);
}

// The frame ds_send sends for `r`.
std::string frameOf(const Report& r) {
  FormatNotes notes;
  std::string out;
  appendFrame(out, formatMessage(r, FormatOptions{}, notes));
  return out;
}

// Delivers `r` and flushes; the outcome of both.
wire::Status send(DsSend& out, const Report& r, std::string& reason) {
  const wire::Status st = out.deliver(r, wire::Deliver{1, r.id, {}}, reason);
  if (st != wire::Status::ok) return st;
  return out.flush(reason);
}

}  // namespace

TEST_CASE("batches go out as octet-counted frames and ids are remembered", "[ds_send]") {
  test::TempDir dir;
  Listener server;
  const auto cfg = configFor(dir, server);
  const Report a = report("first"), b = report("second");
  {
    DsSend out(cfg);
    std::string reason;
    REQUIRE(out.deliver(a, wire::Deliver{1, a.id, {}}, reason) == wire::Status::ok);
    REQUIRE(server.accept() >= 0);
    REQUIRE(out.deliver(b, wire::Deliver{2, b.id, {}}, reason) == wire::Status::ok);
    REQUIRE(out.flush(reason) == wire::Status::ok);
    const std::string expected = frameOf(a) + frameOf(b);
    CHECK(server.readAll(expected.size()) == expected);
    CHECK(out.counters().sent == 2);
    CHECK(out.seen(a.id));
  }
  // A new instance (after a crash) knows them from ds_send.delivered.
  DsSend again(cfg);
  CHECK(again.seen(a.id));
  CHECK(again.seen(b.id));
  CHECK_FALSE(again.seen(report("third").id));
}

TEST_CASE("a server that is not there is a retry that names it", "[ds_send]") {
  test::TempDir dir;
  std::string target;
  {
    Listener gone;
    target = gone.target();
  }  // closed: nothing listens there now
  config::Config cfg;
  cfg.state_dir = dir / "var";
  cfg.outputs.ds_send = config::DsSendOutput{};
  cfg.outputs.ds_send->target = target;
  DsSend out(cfg);
  std::string reason;
  const Report r = report("nobody listens");
  CHECK(out.deliver(r, wire::Deliver{1, r.id, {}}, reason) == wire::Status::retry);
  CHECK(reason == "syslog server " + target.substr(6) + ": connection refused");
  CHECK(out.flush(reason) == wire::Status::ok);  // nothing was taken into a batch
  CHECK_FALSE(out.seen(r.id));
}

TEST_CASE("after a reset the batches confirmed last are sent again first", "[ds_send]") {
  test::TempDir dir;
  Listener server;
  DsSend out(configFor(dir, server));
  const Report a = report("acknowledged but never read");
  std::string reason;
  REQUIRE(out.deliver(a, wire::Deliver{1, a.id, {}}, reason) == wire::Status::ok);
  REQUIRE(server.accept() >= 0);
  REQUIRE(out.flush(reason) == wire::Status::ok);  // the kernel acknowledged it
  server.closePeer();                              // with a unread: a reset
  REQUIRE(server.clientSawClose());
  const Report b = report("after the reset");
  REQUIRE(send(out, b, reason) == wire::Status::ok);
  REQUIRE(server.accept() >= 0);
  const std::string expected = frameOf(a) + frameOf(b);
  CHECK(server.readAll(expected.size()) == expected);
  CHECK(out.counters().resent_reports == 1);
  CHECK(out.counters().sent == 2);
}

TEST_CASE("after an orderly close nothing is sent twice", "[ds_send]") {
  test::TempDir dir;
  Listener server;
  DsSend out(configFor(dir, server));
  const Report a = report("read before the close");
  std::string reason;
  REQUIRE(out.deliver(a, wire::Deliver{1, a.id, {}}, reason) == wire::Status::ok);
  REQUIRE(server.accept() >= 0);
  REQUIRE(out.flush(reason) == wire::Status::ok);
  REQUIRE(server.readAll(frameOf(a).size()) == frameOf(a));
  server.closePeer();  // everything read: end of stream, no reset
  REQUIRE(server.clientSawClose());
  const Report b = report("after the close");
  REQUIRE(send(out, b, reason) == wire::Status::ok);
  REQUIRE(server.accept() >= 0);
  CHECK(server.readAll(frameOf(b).size()) == frameOf(b));
  CHECK(out.counters().resent_reports == 0);
}
