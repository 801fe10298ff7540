// Tests for common/wire.cpp: every envelope of the child protocol survives a round trip,
// and the decoder refuses, without throwing, every frame a confused or hostile child could
// send: other versions, unknown types, wrong shapes, oversize and deep nesting, and noise.
#include "common/wire.h"

#include "tests/support/mutate.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include <cstdint>
#include <functional>
#include <limits>
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
Field v() {
  return u(kVersion);
}
Field arr(std::vector<Field> parts) {
  return [parts](Packer& pk) {
    pk.pack_array(static_cast<std::uint32_t>(parts.size()));
    for (const auto& p : parts)
      p(pk);
  };
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
  // Batches are also encoded without going through an Envelope: the same bytes.
  if constexpr (std::is_same_v<T, SubmitBatch> || std::is_same_v<T, DeliverBatch>) {
    CHECK(encodeView(in) == bytes);
  }
  return std::get<T>(out);
}

Deliver sampleDeliver() {
  return Deliver{77,
                 "01890a5d-ac96-774b-bcce-b302099a8057",
                 {Target{"ops", {"alice", "bob"}}, Target{"hq-operator", {"hq", "operator"}},
                  Target{"operator", {}}}};
}

DeliverBatch sampleDeliveries() {
  return DeliverBatch{{sampleDeliver(), Deliver{80, "id-80", {Target{"operator", {}}}}}, {120, 0}};
}

SubmitBatch sampleSubmits() {
  return SubmitBatch{41,
                     {Submit{0, "id-41", "DISK", {}, {}},
                      Submit{0, "id-42", "DISK", "hq-operator", {"site", "region"}}},
                     {300, 7}};
}

// One valid envelope of every type, for the fuzz corpus.
std::vector<Envelope> corpus() {
  return {Hello{"testproc", "testproc:crashy", 4242, Kind::output, 16},
          Welcome{100, true},
          Ready{},
          Submit{3, "01890a5d-ac96-774b-bcce-b302099a8057", "DISK", {}, {}},
          Ack{3, 67, 1},
          sampleDeliveries(),
          Result{76, Status::retry, 77, "maildir full"},
          Control{"deskoff"},
          sampleSubmits()};
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
  SECTION("submit batch: seqs follow the first, sizes kept") {
    const SubmitBatch m = roundTrip(sampleSubmits());
    REQUIRE(m.reports.size() == 2);
    CHECK(m.seq == 41);
    CHECK(m.reports[0].seq == 41);
    CHECK(m.reports[1].seq == 42);
    CHECK(m.reports[0].id == "id-41");
    CHECK(m.reports[0].recipient.empty());
    CHECK(m.reports[1].recipient == "hq-operator");
    CHECK(m.reports[1].via == std::vector<std::string>{"site", "region"});
    CHECK(m.sizes == std::vector<std::uint32_t>{300, 7});
  }
  SECTION("deliver with targets and params") {
    const DeliverBatch b = roundTrip(sampleDeliveries());
    REQUIRE(b.deliveries.size() == 2);
    CHECK(b.sizes == std::vector<std::uint32_t>{120, 0});
    CHECK(b.deliveries[1].seq == 80);
    const Deliver& d = b.deliveries[0];
    CHECK(d.seq == 77);
    CHECK(d.id == "01890a5d-ac96-774b-bcce-b302099a8057");
    CHECK(d.targets == sampleDeliver().targets);
    REQUIRE(d.targets.size() == 3);
    CHECK(d.targets[0].params == std::vector<std::string>{"alice", "bob"});
    CHECK(d.targets[2].params.empty());
  }
  SECTION("deliver with no targets") {
    CHECK(roundTrip(DeliverBatch{{Deliver{1, "x", {}}}, {3}}).deliveries.at(0).targets.empty());
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

TEST_CASE("hasBody is true exactly for submits and deliveries", "[wire]") {
  CHECK_FALSE(hasBody(Hello{}));
  CHECK_FALSE(hasBody(Welcome{}));
  CHECK_FALSE(hasBody(Ready{}));
  CHECK(hasBody(Submit{}));
  CHECK_FALSE(hasBody(Ack{}));
  CHECK(hasBody(DeliverBatch{}));
  CHECK(hasBody(SubmitBatch{}));
  CHECK_FALSE(hasBody(Result{}));
  CHECK_FALSE(hasBody(Control{}));
}

TEST_CASE("name gives each envelope's type", "[wire]") {
  CHECK(name(Hello{}) == "hello");
  CHECK(name(Welcome{}) == "welcome");
  CHECK(name(Ready{}) == "ready");
  CHECK(name(Submit{}) == "submit");
  CHECK(name(Ack{}) == "ack");
  CHECK(name(DeliverBatch{}) == "deliver");
  CHECK(name(SubmitBatch{}) == "submit batch");
  CHECK(name(Result{}) == "result");
  CHECK(name(Control{}) == "control");
}

TEST_CASE("the hand-built envelopes used below are valid as a baseline", "[wire]") {
  // So each refusal below is caused by the one thing changed, not by the construction.
  CHECK(decodeError(craft({v(), u(2)})) == "");
  CHECK(decodeError(craft({v(), u(7), s("stop")})) == "");
  CHECK(decodeError(craft({v(), u(0), s("r"), s("i"), i(1), u(1), u(4)})) == "");
  CHECK(decodeError(craft({v(), u(6), u(1), u(2), u(2), s("x")})) == "");
}

TEST_CASE("decode refuses another protocol version", "[wire]") {
  CHECK(decodeError(craft({u(0), u(2)})) != "");
  CHECK(decodeError(craft({u(kVersion - 1), u(2)})) != "");
  CHECK(decodeError(craft({u(kVersion + 1), u(2)})) != "");
  CHECK(decodeError(craft({u(255), u(7), s("stop")})) != "");
  CHECK(decodeError(craft({i(-1), u(2)})) != "");
  CHECK(decodeError(craft({s("1"), u(2)})) != "");
}

TEST_CASE("decode refuses an unknown or malformed type", "[wire]") {
  CHECK(decodeError(craft({v(), u(9)})) != "");
  CHECK(decodeError(craft({v(), u(255)})) != "");
  CHECK(decodeError(craft({v(), u(UINT64_MAX)})) != "");
  CHECK(decodeError(craft({v(), i(-1)})) != "");
  CHECK(decodeError(craft({v(), s("ready")})) != "");
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
      {3, {u(1), arr({s("id"), s("CAT")})}},
      {4, {u(1), u(2), u(0)}},
      {5, {arr({arr({u(1), s("id"), arr({})})}), arr({u(0)})}},
      {6, {u(1), u(0), u(2), s("")}},
      {7, {s("stop")}},
      {8, {u(1), arr({arr({s("id"), s("CAT")})}), arr({u(0)})}},
  };
  for (const auto& [type, fields] : valid) {
    INFO("type " << type);
    std::vector<Field> parts{v(), u(type)};
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
    CHECK(decodeError(craft({v(), u(0), i(5), s("id"), i(1), u(0), u(0)})) != "");     // role
    CHECK(decodeError(craft({v(), u(0), s("r"), s("i"), s("1"), u(0), u(0)})) != "");  // pid
    CHECK(decodeError(craft({v(), u(0), s("r"), s("i"), i(1), u(2), u(0)})) != "");    // kind
    CHECK(decodeError(craft({v(), u(0), s("r"), s("i"), i(1), u(0),
                             u(std::uint64_t{UINT32_MAX} + 1)})) != "");  // window
    CHECK(decodeError(craft({v(), u(0), s(std::string(257, 'r')), s("i"), i(1), u(0), u(0)})) !=
          "");  // role over 256 bytes
  }
  SECTION("welcome") {
    CHECK(decodeError(craft({v(), u(1), u(1), u(1)})) != "");      // desk_on not a bool
    CHECK(decodeError(craft({v(), u(1), i(-1), b(true)})) != "");  // negative credit
  }
  SECTION("submit and ack") {
    CHECK(decodeError(craft({v(), u(3), i(-1), arr({s("id"), s("CAT")})})) != "");
    CHECK(decodeError(craft({v(), u(3), u(1), arr({s("id"), u(1)})})) != "");
    CHECK(decodeError(craft({v(), u(3), u(1), arr({s("id"), s("CAT"), s(""), arr({})})})) !=
          "");  // a remote report without its recipient
    CHECK(decodeError(craft({v(), u(4), u(1), s("2"), u(0)})) != "");
  }
  SECTION("batches") {
    const auto submits = [](std::vector<Field> reports, std::vector<Field> sizes) {
      return craft({v(), u(8), u(1), arr(std::move(reports)), arr(std::move(sizes))});
    };
    const Field report = arr({s("id"), s("CAT")});
    CHECK(decodeError(submits({report, report}, {u(1), u(2)})) == "");
    CHECK(decodeError(submits({}, {})) != "");                            // empty
    CHECK(decodeError(submits({report, report}, {u(1)})) != "");          // sizes short
    CHECK(decodeError(submits({report}, {u(kMaxBodyBytes + 1)})) != "");  // body too large
    CHECK(decodeError(submits({report}, {i(-1)})) != "");
    CHECK(decodeError(submits(std::vector<Field>(kMaxBatch + 1, report),
                              std::vector<Field>(kMaxBatch + 1, u(1)))) != "");
    CHECK(decodeError(submits(std::vector<Field>(kMaxBatch, report),
                              std::vector<Field>(kMaxBatch, u(1)))) == "");
    const Field delivery = arr({u(1), s("id"), arr({})});
    CHECK(decodeError(craft({v(), u(5), arr({delivery}), arr({u(1), u(1)})})) != "");
    CHECK(decodeError(craft({v(), u(5), arr({}), arr({})})) != "");
    CHECK(decodeError(craft({v(), u(5), arr({arr({s("1"), s("id"), arr({})})}), arr({u(1)})})) !=
          "");  // seq not a number
  }
  SECTION("deliver targets") {
    const auto deliver = [](Field targets) {
      return craft({v(), u(5), arr({arr({u(1), s("id"), std::move(targets)})}), arr({u(0)})});
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
    CHECK(decodeError(craft({v(), u(6), u(1), u(3), u(2), s("")})) != "");  // status 3
    CHECK(decodeError(craft({v(), u(6), u(1), u(0), u(2), s(std::string(1025, 'r'))})) != "");
    CHECK(decodeError(craft({v(), u(6), u(1), u(0), u(2), u(0)})) != "");  // reason not a string
  }
  SECTION("control") {
    CHECK(decodeError(craft({v(), u(7), u(1)})) != "");
    CHECK(decodeError(craft({v(), u(7), strings({"stop"})})) != "");
  }
}

TEST_CASE("decode refuses an envelope over kMaxEnvelopeBytes", "[wire]") {
  // A huge single field is refused (its own cap or the envelope's, either will do)...
  std::string big = encode(Control{std::string(kMaxEnvelopeBytes, 'c')});
  REQUIRE(big.size() > kMaxEnvelopeBytes);
  CHECK(decodeError(big) != "");
  // ...and so are deliveries whose every field is within its own cap but whose total is not.
  Deliver d{1, "id", {}};
  for (int k = 0; k < 64; ++k)
    d.targets.push_back(Target{std::string(60, 't'), {std::string(10, 'p')}});
  DeliverBatch batch{std::vector<Deliver>(256, d), std::vector<std::uint32_t>(256)};
  const std::string over = encode(batch);
  REQUIRE(over.size() > kMaxEnvelopeBytes);
  CHECK(decodeError(over) != "");
  // And the size check is about bytes: the same deliveries with shorter names are accepted.
  for (auto& one : batch.deliveries) {
    for (auto& t : one.targets)
      t.recipient.resize(40);
  }
  const std::string under = encode(batch);
  REQUIRE(under.size() <= kMaxEnvelopeBytes);
  CHECK(decodeError(under) == "");
}

TEST_CASE("decoding into an envelope that held another message keeps nothing of it", "[wire]") {
  // The hub and the children decode every message into one envelope, reusing its vectors
  // and strings: a smaller batch after a larger one, a local submit after a remote one.
  DeliverBatch fewer = sampleDeliveries();
  fewer.deliveries.erase(fewer.deliveries.begin());
  fewer.deliveries[0].targets.clear();
  fewer.sizes = {5};
  SubmitBatch local = sampleSubmits();  // its second report came from a remote node
  local.reports[1].recipient.clear();
  local.reports[1].via.clear();
  std::vector<Envelope> sequence = {
      sampleDeliveries(),         fewer, sampleSubmits(), local, Submit{5, "r", "C", "hq", {"a"}},
      Submit{6, "l", "C", {}, {}}};
  for (const Envelope& e : corpus()) {
    sequence.push_back(e);
    sequence.push_back(e);
  }
  Envelope reused;
  for (const Envelope& e : sequence) {
    INFO(name(e) << " after " << name(reused));
    const std::string bytes = encode(e);
    REQUIRE(decode(bytes, reused) == "");
    CHECK(encode(reused) == bytes);
    // A refused message between two good ones leaves the next decode whole as well.
    CHECK(decode(bytes.substr(0, bytes.size() / 2), reused) != "");
  }
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
  // envelope > deliveries > delivery > targets > target > params is depth 6; one level more
  // is refused.
  const std::string deeper = craft({v(), u(5),
                                    arr({arr({u(1), s("id"),
                                              [](Packer& pk) {
                                                pk.pack_array(1);
                                                pk.pack_array(2);
                                                pk.pack("ops");
                                                pk.pack_array(1);
                                                pk.pack_array(1);
                                                pk.pack("alice");
                                              }})}),
                                    arr({u(0)})});
  // Refused where the param string belongs; nothing deeper is read.
  CHECK(decodeError(deeper) == "bad deliver");
  std::string deep(500, '\x91');  // fixarray(1) nested 500 deep
  deep += '\xc0';
  CHECK(decodeError(deep) != "");
  // Maps never appear in the protocol.
  CHECK(decodeError(craft({v(), u(7), [](Packer& pk) {
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
    // Most start like an envelope (fixarray, this version), so the decoder gets further in.
    if (k % 4 != 0 && bytes.size() >= 3) {
      bytes[0] = static_cast<char>(0x90 | (byte(rng) % 8));
      bytes[1] = static_cast<char>(kVersion);
      bytes[2] = static_cast<char>(byte(rng) % 10);
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

TEST_CASE("splitBodies cuts a batch body exactly by its sizes", "[wire]") {
  std::vector<std::string_view> out;
  REQUIRE(splitBodies("aaabcc", {3, 1, 0, 2}, out));
  CHECK(out == std::vector<std::string_view>{"aaa", "b", "", "cc"});
  CHECK_FALSE(splitBodies("aaabcc", {3, 1}, out));     // bytes left over
  CHECK_FALSE(splitBodies("aaabcc", {3, 1, 3}, out));  // more claimed than there is
  CHECK_FALSE(splitBodies("", {1}, out));
  CHECK(splitBodies("", {}, out));
  CHECK(out.empty());
}

TEST_CASE("batchBytes bounds what each element adds to its batch's envelope", "[wire]") {
  // Senders close a batch by these bounds to stay under kMaxEnvelopeBytes: an encoded
  // batch must never be larger than a small fixed header plus the sum of its elements'.
  constexpr std::size_t kHeader = 32;  // version, type, seq, the arrays' headers
  for (std::size_t len : {0, 1, 31, 32, 255, 256, 65535, 65536}) {
    INFO("strings of " << len << " bytes");
    const std::string name(len, 'n');
    Submit sub{7, name, name, name, {name, name, name}};
    SubmitBatch sb{1, std::vector<Submit>(20, sub), std::vector<std::uint32_t>(20, 1)};
    std::size_t bound = kHeader;
    for (const auto& m : sb.reports)
      bound += batchBytes(m);
    CHECK(encode(sb).size() <= bound);

    Deliver del{
        std::numeric_limits<std::uint64_t>::max(), name, {{name, {name, name}}, {name, {}}}};
    DeliverBatch db{std::vector<Deliver>(20, del), std::vector<std::uint32_t>(20, 1)};
    bound = kHeader;
    for (const auto& m : db.deliveries)
      bound += batchBytes(m);
    CHECK(encode(db).size() <= bound);
  }
}

TEST_CASE("a batch's body buffer is sized for a full batch only after a large one",
          "[wire]") {
  // A quiet sender's message must not hold a full batch's buffer for one report.
  CHECK(batchBodyReserve(0) == 0);
  CHECK(batchBodyReserve(300) == 0);
  CHECK(batchBodyReserve(kBatchBodyBytes / 4 - 1) == 0);
  CHECK(batchBodyReserve(kBatchBodyBytes / 4) == kMaxBatchBodyBytes);
  CHECK(batchBodyReserve(kBatchBodyBytes) == kMaxBatchBodyBytes);
}
