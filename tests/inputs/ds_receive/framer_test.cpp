// Tests of RFC 6587 framing (inputs/ds_receive/framer.h): octet counting and newline framing,
// both on one connection, streams split at every byte, and what is skipped (oversized frames,
// over-long lines, garbage) or ends the stream (a count no sender would write).
#include "inputs/ds_receive/framer.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace reporthub::inputs::ds_receive;

namespace {

struct Collect : FrameSink {
  std::vector<std::string> messages;
  std::vector<Refusal> refusals;
  std::size_t room = SIZE_MAX;  // messages accepted before pausing

  bool accepting() override { return messages.size() < room; }
  void message(std::string_view m) override { messages.emplace_back(m); }
  void refused(Refusal why, std::string_view) override { refusals.push_back(why); }
  std::size_t count(Refusal r) const {
    std::size_t n = 0;
    for (Refusal x : refusals)
      n += x == r ? 1 : 0;
    return n;
  }
};

std::string octet(const std::string& msg) {
  return std::to_string(msg.size()) + " " + msg;
}

const std::string kA = "<13>1 2026-11-22T08:08:51.397110+00:00 vm app - - - first";
const std::string kB = "<14>Nov 22 08:08:51 vm app: second";
const std::string kC = "<15>1 - - - - - - third";

// Feeds `parts` one after another (each as its own read), then finishes the stream.
Collect run(const std::vector<std::string>& parts, std::uint32_t max = 480) {
  Framer f(max);
  Collect c;
  for (const auto& p : parts)
    f.feed(p, c);
  f.finish(c);
  return c;
}

}  // namespace

TEST_CASE("octet counting and newline framing, also mixed on one connection", "[ds_receive]") {
  SECTION("octet counting, with and without a trailing LF inside the count") {
    const auto c = run({octet(kA) + octet(kB + "\n") + octet(kC)});
    CHECK(c.messages == std::vector<std::string>{kA, kB, kC});
    CHECK(c.refusals.empty());
  }
  SECTION("newline framing ends at LF, CRLF or NUL; empty lines between are skipped") {
    const auto c = run({kA + "\n" + kB + "\r\n\n" + kC + std::string(1, '\0')});
    CHECK(c.messages == std::vector<std::string>{kA, kB, kC});
    CHECK(c.refusals.empty());
  }
  SECTION("mixed: each frame's first byte decides") {
    const auto c = run({octet(kA) + kB + "\n" + octet(kC) + kA + "\n"});
    CHECK(c.messages == std::vector<std::string>{kA, kB, kC, kA});
    CHECK(c.refusals.empty());
  }
  SECTION("a last line without its LF is a message when the peer closes") {
    const auto c = run({kA + "\n" + kB});
    CHECK(c.messages == std::vector<std::string>{kA, kB});
  }
}

TEST_CASE("a stream split at every byte position gives the same messages", "[ds_receive]") {
  const std::string stream = octet(kA) + kB + "\r\n" + octet(kC) + "garbage line\n" + kA + "\n" +
                             octet(std::string(600, 'x')) + kC + "\n";
  const std::vector<std::string> expected{kA, kB, kC, kA, kC};
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    INFO("split at " << i);
    const auto c = run({stream.substr(0, i), stream.substr(i)});
    REQUIRE(c.messages == expected);
    REQUIRE(c.count(Refusal::garbage) == 1);
    REQUIRE(c.count(Refusal::oversized) == 1);
  }
  // And one byte per read.
  std::vector<std::string> bytes;
  for (char ch : stream)
    bytes.emplace_back(1, ch);
  CHECK(run(bytes).messages == expected);
}

TEST_CASE("oversized frames and lines are skipped and the connection goes on", "[ds_receive]") {
  const std::string big(5000, 'y');
  SECTION("octet-counted, larger than the buffer, across many reads") {
    std::vector<std::string> parts{octet(kA) + octet("<13>" + big)};
    parts.push_back(octet(kB));
    const auto c = run(parts);
    CHECK(c.messages == std::vector<std::string>{kA, kB});
    CHECK(c.count(Refusal::oversized) == 1);
  }
  SECTION("a line longer than max_message is skipped to its LF") {
    const std::string stream = kA + "\n<13>" + big + "\n" + kB + "\n";
    const auto c = run({stream});
    CHECK(c.messages == std::vector<std::string>{kA, kB});
    CHECK(c.count(Refusal::oversized) == 1);
    // The same, a few bytes per read.
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < stream.size(); i += 7)
      parts.push_back(stream.substr(i, 7));
    const auto d = run(parts);
    CHECK(d.messages == std::vector<std::string>{kA, kB});
    CHECK(d.count(Refusal::oversized) == 1);
  }
  SECTION("exactly max_message is taken, one byte more is not, a CR does not count") {
    const std::string exact = "<13>" + std::string(476, 'z');
    const auto c = run({exact + "\r\n" + exact + "z\n" + octet(exact) + octet(exact + "z")});
    CHECK(c.messages == std::vector<std::string>{exact, exact});
    CHECK(c.count(Refusal::oversized) == 2);
  }
}

TEST_CASE("garbage is skipped to the next LF, and good frames after it arrive", "[ds_receive]") {
  SECTION("text without PRI, digits without a space, binary") {
    const auto c = run({"hello world\n" + kA + "\n12abc def\n" + octet(kB) +
                        std::string("\x16\x03\x01\x02\xff"
                                    "junk\n") +
                        kC + "\n"});
    CHECK(c.messages == std::vector<std::string>{kA, kB, kC});
    CHECK(c.count(Refusal::garbage) == 3);
  }
  SECTION("an empty octet-counted frame is refused") {
    const auto c = run({"0 " + octet(kA)});
    CHECK(c.messages == std::vector<std::string>{kA});
    CHECK(c.count(Refusal::garbage) == 1);
  }
  SECTION("a partial octet-counted frame at the end is truncated") {
    const auto c = run({octet(kA) + octet(kB).substr(0, 10)});
    CHECK(c.messages == std::vector<std::string>{kA});
    CHECK(c.count(Refusal::truncated) == 1);
  }
}

TEST_CASE("a count beyond the hard bound breaks the stream", "[ds_receive]") {
  SECTION("above the bound") {
    Framer f(480);
    Collect c;
    CHECK(f.feed(octet(kA) + "99999999 " + kB, c) == Framer::Status::broken);
    CHECK(c.messages == std::vector<std::string>{kA});
    CHECK(c.count(Refusal::unframable) == 1);
    CHECK(f.broken());
    // Nothing more comes out of it.
    CHECK(f.feed(octet(kC), c) == Framer::Status::broken);
    CHECK(c.messages.size() == 1);
  }
  SECTION("more digits than any count") {
    Framer f(480);
    Collect c;
    CHECK(f.feed("123456789012345 x", c) == Framer::Status::broken);
    CHECK(c.count(Refusal::unframable) == 1);
  }
  SECTION("a large but plausible count is only skipped") {
    CHECK(Framer::hardBound(8192) >= 1u << 20);
    const auto c = run({octet(std::string(100'000, 'q')) + octet(kA)}, 8192);
    CHECK(c.messages == std::vector<std::string>{kA});
    CHECK(c.count(Refusal::oversized) == 1);
  }
}

TEST_CASE("a sink that stops accepting pauses the framer without losing anything", "[ds_receive]") {
  Framer f(480);
  Collect c;
  c.room = 1;
  std::string stream;
  for (int i = 0; i < 50; ++i)
    stream += (i % 2 ? octet(kA) : kB + "\n");
  CHECK(f.feed(stream, c) == Framer::Status::paused);
  CHECK(c.messages.size() == 1);
  while (c.messages.size() < 50) {
    c.room = c.messages.size() + 3;
    const auto s = f.drain(c);
    REQUIRE((s == Framer::Status::paused || s == Framer::Status::need_more));
  }
  CHECK(f.drain(c) == Framer::Status::need_more);
  CHECK(c.messages.size() == 50);
  CHECK(f.buffered() == 0);
  CHECK(c.refusals.empty());
}

TEST_CASE("random bytes never crash the framer and never yield oversized messages",
          "[ds_receive]") {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    Framer f(480);
    Collect c;
    std::string bytes(1 + rng() % 4000, '\0');
    for (char& ch : bytes)
      ch = static_cast<char>(rng() % 8 == 0 ? "<0123 \n"[rng() % 7] : rng());
    std::size_t at = 0;
    while (at < bytes.size() && !f.broken()) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 300, bytes.size() - at);
      f.feed(std::string_view(bytes).substr(at, n), c);
      at += n;
    }
    f.finish(c);
    for (const auto& m : c.messages)
      REQUIRE(m.size() <= 480);
  }
}
