// The child socket under abuse, and spawn hygiene seen from outside: what a peer that
// speaks garbage gets (counted, logged once, nothing crashes), and what a child inherits.
#include "common/child_link.h"
#include "common/report.h"
#include "common/wire.h"
#include "common/zmq_util.h"
#include "tests/support/harness.h"
#include "tests/support/reports.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <random>
#include <zmq.hpp>

using namespace reporthub;
using namespace reporthub::test;

namespace {

// A raw peer on the hub's child socket, before any Hello.
zmq::socket_t connectRaw(zmq::context_t& ctx, const Hub& hub) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  zmqu::configure(s, 1000, std::chrono::milliseconds(0));
  s.connect(hub.childEndpoint());
  return s;
}

// An external report as an attached input would encode it.
Report extReport(std::string text) {
  return test::newReport("alpha", "bench", "EXT", std::move(text));
}

void sendFrames(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    s.send(zmq::buffer(frames[i]),
           i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

// Adds a report to the batch the link gathers, waiting for the hub's credit if it has none.
void gather(ChildLink& link, const wire::Submit& m, const Report& r) {
  const std::string body = encodeReport(r);
  while (!link.trySubmit(m, body))
    link.pump(10ms);
}

}  // namespace

TEST_CASE("garbage on the child socket is counted and never crashes the hub",
          "[hub][integration][protocol]") {
  Hub hub;
  hub.start();
  zmq::context_t ctx(1);
  zmq::socket_t s = connectRaw(ctx, hub);

  std::mt19937 rng(42);
  std::vector<std::vector<std::string>> garbage = {
      {"not msgpack at all"},
      {std::string("\xdd\xff\xff\xff\xff", 5)},                      // array claiming 4G elements
      {std::string(wire::kMaxEnvelopeBytes + 1, '\x90')},            // oversized envelope
      {wire::encode(wire::Ready{}) + "x"},                           // trailing byte
      {wire::encode(wire::Submit{1, "id", "CAT", {}, {}}), "body"},  // before hello
      {"a", "b", "c", "d", "e"},                                     // too many frames
  };
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    garbage.push_back({junk});
  }
  for (const auto& frames : garbage)
    sendFrames(s, frames);

  REQUIRE(waitFor([&] {
    auto st = hub.status();
    return st.is_object() &&
           st["counters"]["malformed"].get<int>() >= static_cast<int>(garbage.size());
  }));
  // Logged once per peer, not once per frame.
  const auto log = readFile(hub.hubLog());
  CHECK(countOf(log, "malformed message from") <= 3);
  // Still serving.
  CHECK(hub.hubctl({"report", "-C", "OK", "still here"}).code == 0);
  CHECK(hub.waitLines(1));
  CHECK(hub.processStatus("local")["restarts"] == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("an external input that breaks the protocol is refused, a good one is served",
          "[hub][integration][protocol]") {
  Hub hub;
  hub.start();
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  zmqu::configure(s, 1000, std::chrono::milliseconds(0));
  s.set(zmq::sockopt::routing_id, "ext/1");
  s.connect(hub.childEndpoint());
  sendFrames(s, {wire::encode(wire::Hello{"bench", "ext", getpid(), wire::Kind::input, 0})});
  zmq::message_t reply;
  REQUIRE(s.recv(reply));
  wire::Envelope env;
  REQUIRE(wire::decode(zmqu::view(reply), env).empty());
  REQUIRE(std::holds_alternative<wire::Welcome>(env));

  const Report r = extReport("from an attached input");
  sendFrames(s, {wire::encode(wire::Submit{1, r.id, r.category, {}, {}}), encodeReport(r)});
  // Out of sequence: refused as malformed, the connection's next expected seq stays 2.
  sendFrames(s, {wire::encode(wire::Submit{7, r.id, r.category, {}, {}}), encodeReport(r)});
  REQUIRE(hub.waitLines(1));
  CHECK(readFile(hub.operatorLog()).find("alpha EXT info from an attached input") !=
        std::string::npos);
  auto st = hub.status();
  CHECK(st["counters"]["malformed"] == 1);
  CHECK(st["attached_inputs"].size() == 1);
  CHECK(hub.stop() == 0);
}

// What ds_receive and ns_receive send: many reports in one message, bodies back to back.
TEST_CASE("a submit batch is journaled whole and acknowledged to its last seq",
          "[hub][integration][protocol]") {
  Hub hub;
  hub.start();
  zmq::context_t ctx(1);
  zmq::socket_t s = connectRaw(ctx, hub);
  sendFrames(s, {wire::encode(wire::Hello{"bench", "ext", getpid(), wire::Kind::input, 0})});
  zmq::message_t reply;
  REQUIRE(s.recv(reply));

  auto batchOf = [](std::uint64_t first, const std::vector<std::string>& texts) {
    wire::SubmitBatch b;
    b.seq = first;
    std::string bodies;
    for (const auto& text : texts) {
      const Report r = extReport(text);
      const std::string body = encodeReport(r);
      b.reports.push_back(wire::Submit{0, r.id, r.category, {}, {}});
      b.sizes.push_back(static_cast<std::uint32_t>(body.size()));
      bodies += body;
    }
    return std::vector<std::string>{wire::encode(b), bodies};
  };
  sendFrames(s, batchOf(1, {"first of three", "second of three", "third of three"}));
  // Sizes that do not add up to the body frame: the whole batch is malformed, none of it
  // journaled, and the expected seq stays at 4.
  auto bad = batchOf(4, {"never logged"});
  bad[1] += "x";
  sendFrames(s, bad);
  sendFrames(s, batchOf(4, {"after the bad batch"}));

  // One Ack covers the whole first batch (and the good one after the bad).
  std::uint64_t acked = 0;
  REQUIRE(waitFor(
      [&] {
        zmq::message_t m;
        while (s.recv(m, zmq::recv_flags::dontwait)) {
          wire::Envelope env;
          if (wire::decode(zmqu::view(m), env).empty()) {
            if (auto* ack = std::get_if<wire::Ack>(&env)) acked = ack->upto;
          }
        }
        return acked == 4;
      },
      10s));
  REQUIRE(hub.waitLines(4));
  const std::string log = readFile(hub.operatorLog());
  for (const char* text :
       {"first of three", "second of three", "third of three", "after the bad batch"}) {
    CHECK(log.find(std::string("alpha EXT info ") + text) != std::string::npos);
  }
  CHECK(log.find("never logged") == std::string::npos);
  CHECK(log.find("first of three") < log.find("third of three"));
  auto st = hub.status();
  CHECK(st["counters"]["malformed"] == 1);
  CHECK(st["counters"]["accepted"] == 4);
  CHECK(hub.stop() == 0);
}

TEST_CASE("an input's batch is cut before its envelope passes the limit",
          "[hub][integration][protocol]") {
  // A full batch of relayed reports with 40 hops each in their envelopes: about 1.6 MiB if
  // it went out whole, which the hub would refuse as malformed. Their bodies are small (the
  // hops are left out of them), so only the envelope's bound can cut the batch.
  Hub hub("max_hops: 64\n");
  hub.start();
  zmq::context_t ctx(1);
  ChildLink link(ctx, {hub.childEndpoint(), "test", "relay", wire::Kind::input});
  std::vector<std::string> via;
  for (int i = 0; i < 40; ++i)
    via.push_back("hop-" + std::to_string(i) + std::string(30, 'h'));
  std::size_t envelope = 0;
  for (std::size_t i = 0; i < wire::kMaxBatch; ++i) {
    const Report r = test::newReport("far", "test", "EXT", "relayed " + std::to_string(i));
    const wire::Submit m{0, r.id, r.category, "nowhere", via};
    envelope += wire::batchBytes(m);
    gather(link, m, r);
  }
  REQUIRE(envelope > wire::kMaxEnvelopeBytes);
  REQUIRE(link.waitAcked(30s));
  const auto st = hub.status();
  CHECK(st["counters"]["accepted"] == wire::kMaxBatch);
  CHECK(st["counters"]["malformed"] == 0);
  CHECK(hub.waitLines(wire::kMaxBatch));
  CHECK(hub.stop() == 0);
}

TEST_CASE("the hub cuts a delivery batch before its envelope passes the limit",
          "[hub][integration][protocol]") {
  // Every report goes to 40 recipients served by local: each delivery names all 40, so a
  // full batch of deliveries would be about 1.8 MiB of envelope.
  std::string config = "recipients:\n";
  std::string all;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "recipient-" + std::to_string(i) + std::string(30, 'r');
    config += "  " + name + ": local\n";
    all += (all.empty() ? "" : ", ") + name;
  }
  config += "categories:\n  WIDE: [" + all + "]\n  default: [" + all + "]\n";
  Hub hub(config);
  hub.start();
  zmq::context_t ctx(1);
  ChildLink link(ctx, {hub.childEndpoint(), "test", "wide", wire::Kind::input});
  for (std::size_t i = 0; i < wire::kMaxBatch; ++i) {
    const Report r = test::newReport("alpha", "test", "WIDE", "wide " + std::to_string(i));
    gather(link, wire::Submit{0, r.id, r.category, {}, {}}, r);
  }
  REQUIRE(link.waitAcked(30s));
  CHECK(hub.waitLines(wire::kMaxBatch));  // one line each, however many recipients
  CHECK(hub.status()["counters"]["malformed"] == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE(
    "children run in their own process group, inherit no stray descriptors, and die "
    "with the hub",
    "[hub][integration][spawn]") {
  Hub hub;
  hub.start();
  // Once it is up the child has read its config and closed the descriptor; before that the
  // memfd may still be open, as it must be.
  REQUIRE(waitFor([&] { return hub.processStatus("local")["state"] == "running"; }));
  const int pid = hub.processStatus("local")["pid"];
  REQUIRE(pid > 0);
  CHECK(getpgid(pid) == pid);
  // The lock file and the hub's own sockets never leak into a child.
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(fd.path(), ec).string();
    INFO("fd " << fd.path().filename().string() << " -> " << target);
    CHECK(target.find("hub.lock") == std::string::npos);
    CHECK(target.find("reporthub-config") == std::string::npos);  // closed after reading
  }
  // Blocked and ignored signals are reset: SigBlk of the child shows only what it blocks
  // itself (SIGHUP, SIGINT, SIGTERM for its signalfd), not the hub's SIGCHLD.
  const auto status = readFile("/proc/" + std::to_string(pid) + "/status");
  const auto blk = status.find("SigBlk:");
  REQUIRE(blk != std::string::npos);
  const unsigned long long mask = std::stoull(status.substr(blk + 7, 20), nullptr, 16);
  CHECK((mask & (1ULL << (SIGCHLD - 1))) == 0);

  hub.process().killAll();  // SIGKILL to the hub: the parent-death signal takes the child too
  CHECK(waitFor([&] { return kill(pid, 0) != 0; }, 5s));
}
