// Tests for common/wire.cpp: every envelope of the child protocol survives a round trip,
// and the decoder refuses, without throwing, every frame a confused or hostile child could
// send: other versions, unknown types, wrong shapes, oversize and deep nesting, and noise.
#include "common/wire.h"

#include "tests/support/mutate.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace reporthub;
using namespace reporthub::wire;

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
using Field = std::function<void(Packer&)>;

// An envelope built by hand: [version, type, fields...], each part replaceable.
std::string craft(const std::vector<Field>& parts) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(static_cast<std::uint32_t>(parts.size()));
  for (const auto& p : parts)
    p(pk);
  return std::string(buf.data(), buf.size());
}

Field u(std::uint64_t v) {
  return [v](Packer& pk) { pk.pack(v); };
}
Field i(std::int64_t v) {
  return [v](Packer& pk) { pk.pack(v); };
}
Field s(std::string v) {
  return [v](Packer& pk) { pk.pack(v); };
}
Field b(bool v) {
  return [v](Packer& pk) { pk.pack(v); };
}
Field strings(std::vector<std::string> v) {
  return [v](Packer& pk) { pk.pack(v); };
}

std::string decodeError(std::string_view bytes) {
  Envelope out;
  return decode(bytes, out);
}

template <class T>
T roundTrip(const T& in) {
  const std::string bytes = encode(Envelope{in});
  Envelope out;
  const std::string err = decode(bytes, out);
  INFO("decode: " << err);
  REQUIRE(err == "");
  REQUIRE(std::holds_alternative<T>(out));
  // The encoding is canonical: what decodes re-encodes to the same bytes.
  CHECK(encode(out) == bytes);
  return std::get<T>(out);
}

Deliver sampleDeliver() {
  return Deliver{77,
                 "01890a5d-ac96-774b-bcce-b302099a8057",
                 {Target{"ops", {"alice", "bob"}}, Target{"hq-operator", {"hq", "operator"}},
                  Target{"operator", {}}}};
}

// One valid envelope of every type, for the fuzz corpus.
std::vector<Envelope> corpus() {
  return {Hello{"testproc", "testproc:crashy", 4242, Kind::output, 16},
          Welcome{100, true},
          Ready{},
          Submit{3, "01890a5d-ac96-774b-bcce-b302099a8057", "DISK", {}, {}},
          Ack{3, 67, 1},
          sampleDeliver(),
          Result{76, Status::retry, 77, "maildir full"},
          Control{"deskoff"}};
}

}  // namespace

TEST_CASE("every envelope type round trips", "[wire]") {
  SECTION("hello") {
    const Hello h = roundTrip(Hello{"local", "local", 12345, Kind::output, 32});
    CHECK(h.role == "local");
    CHECK(h.id == "local");
    CHECK(h.pid == 12345);
    CHECK(h.kind == Kind::output);
    CHECK(h.window == 32);
    const Hello in = roundTrip(Hello{"testproc", "testproc:crashy", -1, Kind::input, UINT32_MAX});
    CHECK(in.id == "testproc:crashy");
    CHECK(in.pid == -1);
    CHECK(in.kind == Kind::input);
    CHECK(in.window == UINT32_MAX);
  }
  SECTION("welcome") {
    const Welcome w = roundTrip(Welcome{UINT64_MAX, true});
    CHECK(w.credit == UINT64_MAX);
    CHECK(w.desk_on);
    CHECK_FALSE(roundTrip(Welcome{5, false}).desk_on);
  }
  SECTION("ready") {
    roundTrip(Ready{});
  }
  SECTION("submit") {
    const Submit m = roundTrip(Submit{9, "id-9", "APPERROR", {}, {}});
    CHECK(m.seq == 9);
    CHECK(m.id == "id-9");
    CHECK(m.category == "APPERROR");
    CHECK(m.recipient.empty());
    CHECK(m.via.empty());
  }
  SECTION("submit from a remote node names its recipient and via") {
    const Submit m = roundTrip(Submit{4, "id-4", "DISK", "hq-operator", {"site", "region"}});
    CHECK(m.recipient == "hq-operator");
    CHECK(m.via == std::vector<std::string>{"site", "region"});
  }
  SECTION("ack") {
    const Ack a = roundTrip(Ack{10, 74, 2});
    CHECK(a.upto == 10);
    CHECK(a.credit == 74);
    CHECK(a.refused == 2);
  }
  SECTION("deliver with targets and params") {
    const Deliver d = roundTrip(sampleDeliver());
    CHECK(d.seq == 77);
    CHECK(d.id == "01890a5d-ac96-774b-bcce-b302099a8057");
    CHECK(d.targets == sampleDeliver().targets);
    REQUIRE(d.targets.size() == 3);
    CHECK(d.targets[0].params == std::vector<std::string>{"alice", "bob"});
    CHECK(d.targets[2].params.empty());
  }
  SECTION("deliver with no targets") {
    CHECK(roundTrip(Deliver{1, "x", {}}).targets.empty());
  }
  SECTION("result, every status") {
    for (Status st : {Status::ok, Status::retry, Status::failed}) {
      const Result r = roundTrip(Result{5, st, 6, "why"});
      CHECK(r.upto == 5);
      CHECK(r.status == st);
      CHECK(r.seq == 6);
      CHECK(r.reason == "why");
    }
    CHECK(roundTrip(Result{1, Status::failed, 2, std::string(1024, 'r')}).reason.size() == 1024);
  }
  SECTION("control") {
    for (const char* c : {"deskon", "deskoff", "stop"})
      CHECK(roundTrip(Control{c}).command == c);
  }
}

TEST_CASE("hasBody is true exactly for submit and deliver", "[wire]") {
  CHECK_FALSE(hasBody(Hello{}));
  CHECK_FALSE(hasBody(Welcome{}));
  CHECK_FALSE(hasBody(Ready{}));
  CHECK(hasBody(Submit{}));
  CHECK_FALSE(hasBody(Ack{}));
  CHECK(hasBody(Deliver{}));
  CHECK_FALSE(hasBody(Result{}));
  CHECK_FALSE(hasBody(Control{}));
}

TEST_CASE("name gives each envelope's type", "[wire]") {
  CHECK(name(Hello{}) == "hello");
  CHECK(name(Welcome{}) == "welcome");
  CHECK(name(Ready{}) == "ready");
  CHECK(name(Submit{}) == "submit");
  CHECK(name(Ack{}) == "ack");
  CHECK(name(Deliver{}) == "deliver");
  CHECK(name(Result{}) == "result");
  CHECK(name(Control{}) == "control");
}

TEST_CASE("the hand-built envelopes used below are valid as a baseline", "[wire]") {
  // So each refusal below is caused by the one thing changed, not by the construction.
  CHECK(decodeError(craft({u(1), u(2)})) == "");
  CHECK(decodeError(craft({u(1), u(7), s("stop")})) == "");
  CHECK(decodeError(craft({u(1), u(0), s("r"), s("i"), i(1), u(1), u(4)})) == "");
  CHECK(decodeError(craft({u(1), u(6), u(1), u(2), u(2), s("x")})) == "");
}

TEST_CASE("decode refuses another protocol version", "[wire]") {
  CHECK(decodeError(craft({u(0), u(2)})) != "");
  CHECK(decodeError(craft({u(2), u(2)})) != "");
  CHECK(decodeError(craft({u(255), u(7), s("stop")})) != "");
  CHECK(decodeError(craft({i(-1), u(2)})) != "");
  CHECK(decodeError(craft({s("1"), u(2)})) != "");
}

TEST_CASE("decode refuses an unknown or malformed type", "[wire]") {
  CHECK(decodeError(craft({u(1), u(8)})) != "");
  CHECK(decodeError(craft({u(1), u(255)})) != "");
  CHECK(decodeError(craft({u(1), u(UINT64_MAX)})) != "");
  CHECK(decodeError(craft({u(1), i(-1)})) != "");
  CHECK(decodeError(craft({u(1), s("ready")})) != "");
}

TEST_CASE("decode refuses what is not an envelope array", "[wire]") {
  CHECK(decodeError("") != "");
  CHECK(decodeError(craft({})) != "");
  CHECK(decodeError(craft({u(1)})) != "");
  CHECK(decodeError(std::string("\xc0", 1)) != "");
  CHECK(decodeError(std::string("\x01", 1)) != "");
  CHECK(decodeError(std::string("\xa5hello", 6)) != "");
}

TEST_CASE("decode refuses the wrong number of fields for every type", "[wire]") {
  // For each type: its valid field list; one field fewer and one more must both be refused.
  const std::vector<std::pair<std::uint64_t, std::vector<Field>>> valid = {
      {0, {s("role"), s("id"), i(1), u(0), u(0)}},
      {1, {u(1), b(true)}},
      {2, {}},
      {3, {u(1), s("id"), s("CAT")}},
      {4, {u(1), u(2), u(0)}},
      {5, {u(1), s("id"), [](Packer& pk) { pk.pack_array(0); }}},
      {6, {u(1), u(0), u(2), s("")}},
      {7, {s("stop")}},
  };
  for (const auto& [type, fields] : valid) {
    INFO("type " << type);
    std::vector<Field> parts{u(1), u(type)};
    parts.insert(parts.end(), fields.begin(), fields.end());
    REQUIRE(decodeError(craft(parts)) == "");
    auto more = parts;
    more.push_back(u(0));
    CHECK(decodeError(craft(more)) != "");
    if (!fields.empty()) {
      auto fewer = parts;
      fewer.pop_back();
      CHECK(decodeError(craft(fewer)) != "");
    }
  }
}

TEST_CASE("decode refuses fields of the wrong type or range", "[wire]") {
  SECTION("hello") {
    CHECK(decodeError(craft({u(1), u(0), i(5), s("id"), i(1), u(0), u(0)})) != "");     // role
    CHECK(decodeError(craft({u(1), u(0), s("r"), s("i"), s("1"), u(0), u(0)})) != "");  // pid
    CHECK(decodeError(craft({u(1), u(0), s("r"), s("i"), i(1), u(2), u(0)})) != "");    // kind
    CHECK(decodeError(craft({u(1), u(0), s("r"), s("i"), i(1), u(0),
                             u(std::uint64_t{UINT32_MAX} + 1)})) != "");  // window
    CHECK(decodeError(craft({u(1), u(0), s(std::string(257, 'r')), s("i"), i(1), u(0), u(0)})) !=
          "");  // role over 256 bytes
  }
  SECTION("welcome") {
    CHECK(decodeError(craft({u(1), u(1), u(1), u(1)})) != "");      // desk_on not a bool
    CHECK(decodeError(craft({u(1), u(1), i(-1), b(true)})) != "");  // negative credit
  }
  SECTION("submit and ack") {
    CHECK(decodeError(craft({u(1), u(3), i(-1), s("id"), s("CAT")})) != "");
    CHECK(decodeError(craft({u(1), u(3), u(1), s("id"), u(1)})) != "");
    CHECK(decodeError(craft({u(1), u(4), u(1), s("2"), u(0)})) != "");
  }
  SECTION("deliver targets") {
    const auto deliver = [](Field targets) {
      return craft({u(1), u(5), u(1), s("id"), std::move(targets)});
    };
    CHECK(decodeError(deliver(s("ops"))) != "");  // not an array
    CHECK(decodeError(deliver([](Packer& pk) {    // a target of one element
            pk.pack_array(1);
            pk.pack_array(1);
            pk.pack("ops");
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // a target of three elements
            pk.pack_array(1);
            pk.pack_array(3);
            pk.pack("ops");
            pk.pack(std::vector<std::string>{});
            pk.pack("x");
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // params not an array
            pk.pack_array(1);
            pk.pack_array(2);
            pk.pack("ops");
            pk.pack("alice");
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // a param that is not a string
            pk.pack_array(1);
            pk.pack_array(2);
            pk.pack("ops");
            pk.pack(std::vector<int>{1});
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // 65 params
            pk.pack_array(1);
            pk.pack_array(2);
            pk.pack("ops");
            pk.pack(std::vector<std::string>(65, "u"));
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // 65 targets
            pk.pack_array(65);
            for (int k = 0; k < 65; ++k) {
              pk.pack_array(2);
              pk.pack("r");
              pk.pack_array(0);
            }
          })) != "");
    CHECK(decodeError(deliver([](Packer& pk) {  // 64 targets: the limit itself is fine
            pk.pack_array(64);
            for (int k = 0; k < 64; ++k) {
              pk.pack_array(2);
              pk.pack("r");
              pk.pack_array(0);
            }
          })) == "");
  }
  SECTION("result") {
    CHECK(decodeError(craft({u(1), u(6), u(1), u(3), u(2), s("")})) != "");  // status 3
    CHECK(decodeError(craft({u(1), u(6), u(1), u(0), u(2), s(std::string(1025, 'r'))})) != "");
    CHECK(decodeError(craft({u(1), u(6), u(1), u(0), u(2), u(0)})) != "");  // reason not a string
  }
  SECTION("control") {
    CHECK(decodeError(craft({u(1), u(7), u(1)})) != "");
    CHECK(decodeError(craft({u(1), u(7), strings({"stop"})})) != "");
  }
}

TEST_CASE("decode refuses an envelope over kMaxEnvelopeBytes", "[wire]") {
  // A huge single field is refused (its own cap or the envelope's, either will do)...
  std::string big = encode(Control{std::string(kMaxEnvelopeBytes, 'c')});
  REQUIRE(big.size() > kMaxEnvelopeBytes);
  CHECK(decodeError(big) != "");
  // ...and so is a deliver whose every field is within its own cap but whose total is not.
  Deliver d{1, "id", {}};
  for (int k = 0; k < 64; ++k)
    d.targets.push_back(Target{std::string(60, 't'), {std::string(10, 'p')}});
  const std::string over = encode(d);
  REQUIRE(over.size() > kMaxEnvelopeBytes);
  CHECK(decodeError(over) != "");
  // And the size check is about bytes: the same deliver with shorter names is accepted.
  for (auto& t : d.targets)
    t.recipient.resize(40);
  const std::string under = encode(d);
  REQUIRE(under.size() <= kMaxEnvelopeBytes);
  CHECK(decodeError(under) == "");
}

TEST_CASE("decode refuses trailing bytes", "[wire]") {
  for (const Envelope& e : corpus()) {
    INFO(name(e));
    const std::string bytes = encode(e);
    REQUIRE(decodeError(bytes) == "");
    CHECK(decodeError(bytes + '\0') != "");
    CHECK(decodeError(bytes + '\xc0') != "");
    CHECK(decodeError(bytes + bytes) != "");
  }
}

TEST_CASE("decode refuses truncated envelopes", "[wire]") {
  for (const Envelope& e : corpus()) {
    const std::string bytes = encode(e);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      INFO(name(e) << " cut to " << n << " bytes");
      CHECK(decodeError(bytes.substr(0, n)) != "");
    }
  }
}

TEST_CASE("decode refuses nesting deeper than a deliver needs", "[wire]") {
  // envelope > targets > target > params is depth 4; one level more is refused.
  const std::string deeper = craft({u(1), u(5), u(1), s("id"), [](Packer& pk) {
                                      pk.pack_array(1);
                                      pk.pack_array(2);
                                      pk.pack("ops");
                                      pk.pack_array(1);
                                      pk.pack_array(1);
                                      pk.pack("alice");
                                    }});
  // Refused by the depth limit while unpacking, before any field is looked at.
  CHECK_THAT(decodeError(deeper), Catch::Matchers::Contains("nesting"));
  std::string deep(500, '\x91');  // fixarray(1) nested 500 deep
  deep += '\xc0';
  CHECK(decodeError(deep) != "");
  // Maps never appear in the protocol.
  CHECK(decodeError(craft({u(1), u(7), [](Packer& pk) {
                             pk.pack_map(1);
                             pk.pack("a");
                             pk.pack("b");
                           }})) != "");
}

TEST_CASE("decode refuses headers that claim gigabytes", "[wire]") {
  for (const std::string& bytes :
       {std::string("\xdd\xff\xff\xff\xff", 5), std::string("\xdf\xff\xff\xff\xff", 5),
        std::string("\xdb\xff\xff\xff\xff", 5), std::string("\xc6\xff\xff\xff\xff", 5),
        std::string("\x93\x01\x07\xdb\xff\xff\xff\xff", 8)}) {
    const std::string err = decodeError(bytes);
    CHECK(err != "");
    CHECK_THAT(err, !Catch::Matchers::Contains("alloc"));
  }
}

namespace {

// What a successful decode of arbitrary bytes must still guarantee: it is a value the
// encoder can write and that decodes again to the same bytes.
bool decodedIsSane(const Envelope& e) {
  const std::string bytes = encode(e);
  Envelope again;
  return decode(bytes, again).empty() && encode(again) == bytes;
}

}  // namespace

TEST_CASE("decode survives 20k random byte strings", "[wire]") {
  std::mt19937_64 rng(0x3157'0001);
  std::uniform_int_distribution<int> len(0, 64);
  std::uniform_int_distribution<int> byte(0, 255);
  int threw = 0, insane = 0;
  for (int k = 0; k < 20'000; ++k) {
    std::string bytes(static_cast<std::size_t>(len(rng)), '\0');
    for (auto& c : bytes)
      c = static_cast<char>(byte(rng));
    // Most start like an envelope (fixarray, version 1), so the decoder gets further in.
    if (k % 4 != 0 && bytes.size() >= 3) {
      bytes[0] = static_cast<char>(0x90 | (byte(rng) % 8));
      bytes[1] = '\x01';
      bytes[2] = static_cast<char>(byte(rng) % 9);
    }
    try {
      Envelope out;
      if (decode(bytes, out).empty() && !decodedIsSane(out)) ++insane;
    } catch (...) {
      ++threw;
    }
  }
  CHECK(threw == 0);
  CHECK(insane == 0);
}

TEST_CASE("decode survives 20k random mutations of valid envelopes", "[wire]") {
  std::vector<std::string> seeds;
  for (const Envelope& e : corpus())
    seeds.push_back(encode(e));
  std::mt19937_64 rng(0x3157'0002);
  std::uniform_int_distribution<std::size_t> pick(0, seeds.size() - 1);
  int threw = 0, insane = 0, decoded = 0, refused = 0;
  for (int k = 0; k < 20'000; ++k) {
    const std::string bytes = reporthub::test::mutate(seeds[pick(rng)], rng);
    try {
      Envelope out;
      if (decode(bytes, out).empty()) {
        ++decoded;
        if (!decodedIsSane(out)) ++insane;
      } else {
        ++refused;
      }
    } catch (...) {
      ++threw;
    }
  }
  CHECK(threw == 0);
  CHECK(insane == 0);
  CHECK(decoded > 0);
  CHECK(refused > 0);
}
