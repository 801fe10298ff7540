// Tests for common/zmq_util.cpp.
#include "common/zmq_util.h"

#include <catch2/catch.hpp>

#include <string>

using namespace reporthub;

TEST_CASE("take hands a string's bytes to ZeroMQ without copying them", "[zmq_util]") {
  zmq::context_t ctx(1);
  zmq::socket_t in(ctx, zmq::socket_type::pair), out(ctx, zmq::socket_type::pair);
  in.bind("inproc://take-test");
  out.connect("inproc://take-test");

  std::string bodies(100'000, 'b');
  bodies.replace(0, 5, "first");
  const char* bytes = bodies.data();
  zmq::message_t m = zmqu::take(std::move(bodies));
  CHECK(m.data() == bytes);  // the same buffer, not a copy
  REQUIRE(out.send(m, zmq::send_flags::none));

  zmq::message_t got;
  REQUIRE(in.recv(got));
  CHECK(got.size() == 100'000);
  CHECK(zmqu::view(got).substr(0, 6) == "firstb");
  // A message dropped unsent frees what it took too (the sanitizer build sees a leak).
  zmq::message_t dropped = zmqu::take(std::string(50'000, 'd'));
  CHECK(dropped.size() == 50'000);
}
