// Tests for common/child_link.cpp against a hub played by a ROUTER socket in this process:
// when a batch gathered by trySubmit goes out.
#include "common/child_link.h"

#include "common/wire.h"
#include "common/zmq_util.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <thread>
#include <vector>

using namespace reporthub;
using namespace std::chrono_literals;

namespace {

// The hub's side: answers the Hello with credit, then keeps the seqs of each submit batch
// that arrives, until it has `batches` of them or a second passes without one.
struct FakeHub {
  explicit FakeHub(zmq::context_t& ctx, std::size_t batches)
      : router(ctx, zmq::socket_type::router) {
    router.set(zmq::sockopt::rcvtimeo, 1000);
    router.bind(kEndpoint);
    thread = std::thread([this, batches] { serve(batches); });
  }
  ~FakeHub() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }

  void serve(std::size_t batches) {
    std::vector<zmq::message_t> frames;
    while (received.size() < batches) {
      zmq::message_t id, envelope;
      if (!router.recv(id) || !router.recv(envelope)) return;
      frames.clear();
      for (bool more = envelope.more(); more; more = frames.back().more()) {
        frames.emplace_back();
        if (!router.recv(frames.back())) return;
      }
      wire::Envelope env;
      if (!wire::decode(zmqu::view(envelope), env).empty()) return;
      if (std::holds_alternative<wire::Hello>(env)) {
        router.send(id, zmq::send_flags::sndmore);
        router.send(zmq::buffer(wire::encode(wire::Welcome{100, false})));
      } else if (auto* b = std::get_if<wire::SubmitBatch>(&env)) {
        std::vector<std::uint64_t> seqs;
        for (const auto& r : b->reports)
          seqs.push_back(r.seq);
        received.push_back(seqs);
      }
    }
  }

  static constexpr const char* kEndpoint = "inproc://child-link-test";
  zmq::socket_t router;
  std::thread thread;
  std::vector<std::vector<std::uint64_t>> received;  // the seqs of each batch
};

wire::Submit submitOf(std::string id) {
  return wire::Submit{0, std::move(id), "EXT", {}, {}};
}

}  // namespace

TEST_CASE("a busy input's batch grows across zero-timeout pumps and goes when a pump may wait",
          "[child_link]") {
  zmq::context_t ctx(1);
  FakeHub hub(ctx, 2);
  {
    ChildLink link(ctx, {FakeHub::kEndpoint, "test", "test", wire::Kind::input});
    REQUIRE(link.trySubmit(submitOf("a"), "body a"));
    link.pump(Duration(0));  // takes in Acks only: the batch stays open
    REQUIRE(link.trySubmit(submitOf("b"), "body b"));
    link.pump(Duration(0));
    REQUIRE(link.trySubmit(submitOf("c"), "body c"));
    link.flush();
    REQUIRE(link.trySubmit(submitOf("d"), "body d"));
    link.pump(1ms);  // may wait: sends what was gathered first
    hub.join();
  }
  REQUIRE(hub.received.size() == 2);
  CHECK(hub.received[0] == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(hub.received[1] == std::vector<std::uint64_t>{4});
}
