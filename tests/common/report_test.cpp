// Tests for common/report.cpp: report ids, and the msgpack codec that every socket carries.
// The decoder faces bytes from other processes and other nodes, so most of this file is
// about what it must refuse, and that no input at all can crash it or make it allocate
// what a frame merely claims.
#include "common/report.h"

#include "tests/support/mutate.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace reporthub;

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

Report sample() {
  Report r;
  r.id = "01890a5d-ac96-774b-bcce-b302099a8057";
  r.ts_ns = 1'700'000'000'123'456'789;
  r.origin = "alpha";
  r.source = "check";
  r.category = "DISK";
  r.severity = Severity::error;
  r.text = "root filesystem 97% full";
  r.attrs = {{"path", "/"}, {"used", "97%"}, {"check", "root-disk"}};
  r.via = {"alpha", "region-1"};
  return r;
}

// Builds a report-shaped msgpack array field by field, so one field at a time can be
// replaced by something the decoder must refuse.
struct Crafted {
  std::vector<std::function<void(Packer&)>> fields;

  Crafted() {
    const Report r = sample();
    fields = {
        [r](Packer& pk) { pk.pack(r.id); },       [r](Packer& pk) { pk.pack(r.ts_ns); },
        [r](Packer& pk) { pk.pack(r.origin); },   [r](Packer& pk) { pk.pack(r.source); },
        [r](Packer& pk) { pk.pack(r.category); }, [](Packer& pk) { pk.pack(std::uint8_t{2}); },
        [r](Packer& pk) { pk.pack(r.text); },     [r](Packer& pk) { pk.pack(r.attrs); },
        [r](Packer& pk) { pk.pack(r.via); },
    };
  }

  std::string bytes() const {
    msgpack::sbuffer buf;
    Packer pk(buf);
    pk.pack_array(static_cast<std::uint32_t>(fields.size()));
    for (const auto& f : fields)
      f(pk);
    return std::string(buf.data(), buf.size());
  }
};

std::string decodeError(std::string_view bytes, const ReportLimits& limits = {}) {
  Report out;
  return decodeReport(bytes, out, limits);
}

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

TEST_CASE("severity names round trip", "[report]") {
  for (Severity s : {Severity::info, Severity::warning, Severity::error, Severity::critical}) {
    CHECK(parseSeverity(toString(s)) == s);
  }
  CHECK(toString(Severity::critical) == "critical");
  CHECK_FALSE(parseSeverity("fatal").has_value());
  CHECK_FALSE(parseSeverity("ERROR").has_value());
  CHECK_FALSE(parseSeverity("").has_value());
}

TEST_CASE("encodeReport and decodeReport round trip", "[report]") {
  SECTION("every field, attrs and via included") {
    const Report r = sample();
    Report out;
    REQUIRE(decodeReport(encodeReport(r), out) == "");
    CHECK(out == r);
    CHECK(out.attrs.at("used") == "97%");
    CHECK(out.via == std::vector<std::string>{"alpha", "region-1"});
  }
  SECTION("empty attrs and via, negative time, every severity") {
    for (Severity s : {Severity::info, Severity::warning, Severity::error, Severity::critical}) {
      Report r = sample();
      r.attrs.clear();
      r.via.clear();
      r.ts_ns = -42;
      r.severity = s;
      Report out;
      REQUIRE(decodeReport(encodeReport(r), out) == "");
      CHECK(out == r);
    }
  }
  SECTION("binary-safe text and values at their limits") {
    Report r = sample();
    r.text = std::string("nul\0byte \xc3\xa9 tab\t", 16) + std::string(40'000, 'x');
    r.attrs = {{std::string(256, 'k'), std::string(16 * 1024, 'v')}};
    r.origin = std::string(256, 'o');
    r.id = std::string(128, 'i');
    r.via.clear();
    for (int i = 0; i < 64; ++i)
      r.via.push_back("n" + std::to_string(i));
    Report out;
    REQUIRE(decodeReport(encodeReport(r), out) == "");
    CHECK(out == r);
  }
  SECTION("exactly max_attrs attributes") {
    Report r = sample();
    r.attrs.clear();
    for (int i = 0; i < 64; ++i)
      r.attrs["k" + std::to_string(i)] = "v";
    Report out;
    REQUIRE(decodeReport(encodeReport(r), out) == "");
    CHECK(out.attrs.size() == 64);
  }
  SECTION("decoding replaces what the output held before") {
    Report out = sample();
    out.attrs["stale"] = "x";
    out.via.push_back("stale");
    Report r = sample();
    r.attrs = {{"fresh", "y"}};
    r.via = {"beta"};
    REQUIRE(decodeReport(encodeReport(r), out) == "");
    CHECK(out == r);
  }
  SECTION("one report decoded into after another, with the same or other attributes") {
    // Outputs reuse one Report; the decoder keeps its attribute nodes when the keys repeat.
    using Attrs = std::map<std::string, std::string>;
    const std::vector<Attrs> sequence = {
        {{"a", "1"}, {"b", "2"}, {"c", "3"}},
        {{"a", "x"}, {"b", "y"}, {"c", "z"}},             // same keys, new values
        {{"a", "1"}, {"b", "2"}},                         // one fewer
        {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", ""}},  // one more
        {{"a", "1"}, {"bb", "2"}, {"c", "3"}},            // a key other than before
        {},
        {{"z", "last"}},
    };
    Report out;
    for (const Attrs& attrs : sequence) {
      Report r = sample();
      r.attrs = attrs;
      REQUIRE(decodeReport(encodeReport(r), out) == "");
      CHECK(out == r);
    }
  }
  SECTION("attributes out of order or repeated, as another encoder may send them") {
    Report out = sample();
    out.attrs = {{"a", "old"}, {"b", "old"}};
    Crafted crafted;
    crafted.fields[7] = [](Packer& pk) {
      pk.pack_map(3);
      for (const char* kv : {"b", "2", "a", "1", "b", "3"})
        pk.pack(std::string(kv));
    };
    REQUIRE(decodeReport(crafted.bytes(), out) == "");
    CHECK(out.attrs == std::map<std::string, std::string>{{"a", "1"}, {"b", "3"}});
  }
  SECTION("integers in any encoding whose value fits") {
    Report out;
    const std::vector<std::pair<std::function<void(Packer&)>, std::int64_t>> times = {
        {[](Packer& pk) { pk.pack_fix_int8(-1); }, -1},
        {[](Packer& pk) { pk.pack_fix_int16(-300); }, -300},
        {[](Packer& pk) { pk.pack_fix_int32(70'000); }, 70'000},
        {[](Packer& pk) { pk.pack_fix_int64(INT64_MIN); }, INT64_MIN},
        {[](Packer& pk) { pk.pack_fix_uint8(200); }, 200},
        {[](Packer& pk) { pk.pack_fix_uint16(65'535); }, 65'535},
        {[](Packer& pk) { pk.pack_fix_uint32(4'000'000'000U); }, 4'000'000'000LL},
        {[](Packer& pk) { pk.pack_fix_uint64(INT64_MAX); }, INT64_MAX},
    };
    for (const auto& [pack, want] : times) {
      Crafted crafted;
      crafted.fields[1] = pack;
      crafted.fields[5] = [](Packer& pk) { pk.pack_fix_int64(3); };  // a positive signed one
      REQUIRE(decodeReport(crafted.bytes(), out) == "");
      CHECK(out.ts_ns == want);
      CHECK(out.severity == Severity::critical);
    }
  }
}

TEST_CASE("a report decoded as a view points into its bytes", "[report]") {
  const Report r = sample();
  const std::string bytes = encodeReport(r);
  auto inside = [&](std::string_view s) {
    return s.data() >= bytes.data() && s.data() + s.size() <= bytes.data() + bytes.size();
  };
  ReportView v;
  REQUIRE(decodeReport(bytes, v) == "");
  CHECK(v.id == r.id);
  CHECK(v.ts_ns == r.ts_ns);
  CHECK(v.origin == r.origin);
  CHECK(v.source == r.source);
  CHECK(v.category == r.category);
  CHECK(v.severity == r.severity);
  CHECK(v.text == r.text);
  CHECK(v.attrs == viewOf(r).attrs);
  CHECK(v.via == viewOf(r).via);
  CHECK((inside(v.id) && inside(v.text) && inside(v.attrs[0].second) && inside(v.via[1])));

  SECTION("attributes in key order with the last of a repeated key, as a map keeps them") {
    Crafted crafted;
    crafted.fields[7] = [](Packer& pk) {
      pk.pack_map(6);
      for (const char* kv : {"c", "1", "a", "2", "c", "3", "b", "4", "a", "5", "ab", "6"})
        pk.pack(std::string(kv));
    };
    const std::string unordered = crafted.bytes();  // the view points into it
    REQUIRE(decodeReport(unordered, v) == "");
    using Attrs = std::vector<std::pair<std::string_view, std::string_view>>;
    CHECK(v.attrs == Attrs{{"a", "5"}, {"ab", "6"}, {"b", "4"}, {"c", "3"}});
  }
  SECTION("a refused report is refused as a view too") {
    Crafted crafted;
    crafted.fields[8] = [](Packer& pk) { pk.pack(7); };
    CHECK(decodeReport(crafted.bytes(), v) == "bad via");
  }
}

TEST_CASE("newReportId is a UUIDv7 in text form", "[report]") {
  const auto before_ms = nowNs() / 1'000'000;
  const std::string id = newReportId();
  const auto after_ms = nowNs() / 1'000'000;
  INFO(id);
  REQUIRE(id.size() == 36);
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      CHECK(id[i] == '-');
    } else {
      CHECK(isHex(id[i]));
    }
  }
  CHECK(id[14] == '7');  // version nibble
  const char variant = id[19];
  CHECK((variant == '8' || variant == '9' || variant == 'a' || variant == 'b'));  // 10xx
  // The first 48 bits are the creation time in ms since the epoch.
  const std::string ts_hex = id.substr(0, 8) + id.substr(9, 4);
  const auto ts_ms = static_cast<std::int64_t>(std::stoull(ts_hex, nullptr, 16));
  CHECK(ts_ms >= before_ms);
  CHECK(ts_ms <= after_ms);
}

TEST_CASE("newReportId is unique and time ordered over 10k ids", "[report]") {
  std::vector<std::string> ids;
  ids.reserve(10'000);
  for (int i = 0; i < 10'000; ++i)
    ids.push_back(newReportId());
  const std::set<std::string> unique(ids.begin(), ids.end());
  CHECK(unique.size() == ids.size());
  // The 48-bit time prefix never goes backwards; within one millisecond order is random.
  std::size_t out_of_order = 0;
  for (std::size_t i = 1; i < ids.size(); ++i) {
    if (ids[i].compare(0, 13, ids[i - 1], 0, 13) < 0) ++out_of_order;
  }
  CHECK(out_of_order == 0);
  // The random part really varies: the 74 random bits are not all equal across ids.
  std::set<std::string> tails;
  for (const auto& id : ids)
    tails.insert(id.substr(24));
  CHECK(tails.size() == ids.size());
}

TEST_CASE("decodeReport refuses truncated input", "[report]") {
  const std::string good = encodeReport(sample());
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(decodeError(good.substr(0, n)) != "");
  }
}

TEST_CASE("decodeReport refuses trailing bytes", "[report]") {
  const std::string good = encodeReport(sample());
  CHECK(decodeError(good + '\0') != "");
  CHECK(decodeError(good + '\xc0') != "");  // a complete msgpack nil after the report
  CHECK(decodeError(good + good) != "");
}

TEST_CASE("decodeReport refuses the wrong shape", "[report]") {
  SECTION("too few and too many fields") {
    Crafted few;
    few.fields.pop_back();
    CHECK(decodeError(few.bytes()) != "");
    Crafted many;
    many.fields.push_back([](Packer& pk) { pk.pack("extra"); });
    CHECK(decodeError(many.bytes()) != "");
    Crafted none;
    none.fields.clear();
    CHECK(decodeError(none.bytes()) != "");
  }
  SECTION("not an array") {
    msgpack::sbuffer buf;
    Packer pk(buf);
    pk.pack(std::map<std::string, std::string>{{"id", "x"}});
    CHECK(decodeError(std::string_view(buf.data(), buf.size())) != "");
    CHECK(decodeError(std::string("\xa3"
                                  "abc",
                                  4)) != "");
    CHECK(decodeError(std::string("\x07", 1)) != "");
  }
  SECTION("the crafted baseline itself decodes") {
    Report out;
    REQUIRE(decodeReport(Crafted().bytes(), out) == "");
    CHECK(out == sample());
  }
}

TEST_CASE("decodeReport refuses fields of the wrong type", "[report]") {
  using Field = std::function<void(Packer&)>;
  struct Case {
    int index;
    const char* what;
    Field f;
  };
  const std::vector<Case> cases = {
      {0, "id as integer", [](Packer& pk) { pk.pack(12345); }},
      {0, "id as binary",
       [](Packer& pk) {
         pk.pack_bin(3);
         pk.pack_bin_body("abc", 3);
       }},
      {1, "ts as string", [](Packer& pk) { pk.pack("1700000000"); }},
      {1, "ts as float", [](Packer& pk) { pk.pack(1.5); }},
      {1, "ts above INT64_MAX", [](Packer& pk) { pk.pack(std::uint64_t{1} << 63); }},
      {2, "origin as nil", [](Packer& pk) { pk.pack_nil(); }},
      {3, "source as bool", [](Packer& pk) { pk.pack(true); }},
      {4, "category as array", [](Packer& pk) { pk.pack(std::vector<std::string>{"DISK"}); }},
      {5, "severity as string", [](Packer& pk) { pk.pack("error"); }},
      {5, "severity negative", [](Packer& pk) { pk.pack(-1); }},
      {5, "severity 4", [](Packer& pk) { pk.pack(4); }},
      {5, "severity 255", [](Packer& pk) { pk.pack(255); }},
      {6, "text as integer", [](Packer& pk) { pk.pack(7); }},
      {7, "attrs as array",
       [](Packer& pk) {
         pk.pack(std::vector<std::string>{"a", "b"});
       }},
      {7, "attr value integer",
       [](Packer& pk) {
         pk.pack(std::map<std::string, int>{{"a", 1}});
       }},
      {7, "attr key integer",
       [](Packer& pk) {
         pk.pack(std::map<int, std::string>{{1, "a"}});
       }},
      {8, "via as map", [](Packer& pk) { pk.pack(std::map<std::string, std::string>{}); }},
      {8, "via as string", [](Packer& pk) { pk.pack("alpha"); }},
      {8, "via entry integer", [](Packer& pk) { pk.pack(std::vector<int>{1}); }},
  };
  for (const auto& c : cases) {
    Crafted crafted;
    crafted.fields[static_cast<std::size_t>(c.index)] = c.f;
    INFO(c.what);
    CHECK(decodeError(crafted.bytes()) != "");
  }
  // Sanity: the highest severity is accepted in the same construction.
  Crafted critical;
  critical.fields[5] = [](Packer& pk) { pk.pack(3); };
  Report out;
  REQUIRE(decodeReport(critical.bytes(), out) == "");
  CHECK(out.severity == Severity::critical);
}

TEST_CASE("decodeReport refuses an empty id", "[report]") {
  Report r = sample();
  r.id.clear();
  CHECK(decodeError(encodeReport(r)) != "");
}

TEST_CASE("decodeReport refuses what is over its limits", "[report]") {
  SECTION("the whole report over max_bytes") {
    Report r = sample();
    r.text = std::string(64 * 1024, 'x');
    const std::string bytes = encodeReport(r);
    REQUIRE(bytes.size() > 64 * 1024);
    CHECK(decodeError(bytes) != "");
    // The same bytes pass under a larger limit, so size is what refused them.
    ReportLimits big;
    big.max_bytes = 128 * 1024;
    CHECK(decodeError(bytes, big) == "");
  }
  SECTION("a custom max_bytes, one byte over and exactly at it") {
    const std::string bytes = encodeReport(sample());
    ReportLimits limits;
    limits.max_bytes = bytes.size() - 1;
    CHECK(decodeError(bytes, limits) != "");
    limits.max_bytes = bytes.size();
    CHECK(decodeError(bytes, limits) == "");
  }
  SECTION("too many attrs") {
    Report r = sample();
    r.attrs.clear();
    for (int i = 0; i < 65; ++i)
      r.attrs["k" + std::to_string(i)] = "v";
    CHECK(decodeError(encodeReport(r)) != "");
    ReportLimits limits;
    limits.max_attrs = 2;
    CHECK(decodeError(encodeReport(sample()), limits) != "");  // sample has 3
  }
  SECTION("too many via entries") {
    Report r = sample();
    r.via.assign(65, "hop");
    CHECK(decodeError(encodeReport(r)) != "");
  }
  SECTION("an attr value over max_field") {
    Report r = sample();
    r.attrs["big"] = std::string(16 * 1024 + 1, 'v');
    CHECK(decodeError(encodeReport(r)) != "");
  }
  SECTION("an attr key, origin, source, category or via entry over 256 bytes") {
    const std::string long_name(257, 'n');
    Report a = sample();
    a.attrs[long_name] = "v";
    CHECK(decodeError(encodeReport(a)) != "");
    Report b = sample();
    b.origin = long_name;
    CHECK(decodeError(encodeReport(b)) != "");
    Report c = sample();
    c.source = long_name;
    CHECK(decodeError(encodeReport(c)) != "");
    Report d = sample();
    d.category = long_name;
    CHECK(decodeError(encodeReport(d)) != "");
    Report e = sample();
    e.via = {long_name};
    CHECK(decodeError(encodeReport(e)) != "");
  }
  SECTION("an id over 128 bytes") {
    Report r = sample();
    r.id = std::string(129, 'i');
    CHECK(decodeError(encodeReport(r)) != "");
  }
}

TEST_CASE("decodeReport refuses nesting", "[report]") {
  SECTION("a container where a string belongs") {
    Crafted crafted;
    crafted.fields[6] = [](Packer& pk) {
      pk.pack_array(1);
      pk.pack_array(1);
      pk.pack_array(1);
      pk.pack("deep");
    };
    // Refused where the string was expected; nothing deeper is read.
    CHECK(decodeError(crafted.bytes()) == "bad text");
  }
  SECTION("an attr value that is a map") {
    Crafted crafted;
    crafted.fields[7] = [](Packer& pk) {
      pk.pack_map(1);
      pk.pack("k");
      pk.pack(std::map<std::string, std::string>{{"a", "b"}});
    };
    CHECK(decodeError(crafted.bytes()) != "");
  }
  SECTION("arrays nested a thousand deep") {
    std::string bytes(1000, '\x91');  // fixarray of one element, over and over
    bytes += '\xc0';
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(decodeError(bytes) != "");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(250));
  }
}

TEST_CASE("decodeReport refuses a 5-byte header claiming 4 GiB without allocating it", "[report]") {
  // Each of these claims 2^32-1 elements or bytes. Honouring the claim would mean a
  // multi-gigabyte allocation (or bad_alloc); the limits must refuse it first, and the
  // reason must be the limit or the missing bytes, never an allocation failure.
  const std::vector<std::pair<const char*, std::string>> headers = {
      {"array32", std::string("\xdd\xff\xff\xff\xff", 5)},
      {"map32", std::string("\xdf\xff\xff\xff\xff", 5)},
      {"str32", std::string("\xdb\xff\xff\xff\xff", 5)},
      {"bin32", std::string("\xc6\xff\xff\xff\xff", 5)},
      {"ext32", std::string("\xc9\xff\xff\xff\xff\x01", 6)},
      // A plausible report start whose first field claims 4 GiB.
      {"array(9) + str32 id", std::string("\x99\xdb\xff\xff\xff\xff", 6)},
      {"array(9) + array32", std::string("\x99\xdd\xff\xff\xff\xff", 6)},
  };
  for (const auto& [what, bytes] : headers) {
    INFO(what);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string err = decodeError(bytes);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(err != "");
    CHECK_THAT(err, !Catch::Matchers::Contains("alloc"));
    CHECK(took < std::chrono::milliseconds(250));
  }
  // The container claims are refused by their counts, not by running out of bytes.
  CHECK(decodeError(headers[0].second) == "report is not an array of 9 fields");
  CHECK(decodeError(headers[1].second) == "report is not an array of 9 fields");
  CHECK(decodeError(headers[6].second) == "bad id");
}

namespace {

// What a successful decode of arbitrary bytes must still guarantee.
bool decodedIsSane(const Report& r) {
  if (r.id.empty() || static_cast<int>(r.severity) > 3) return false;
  if (r.attrs.size() > 64 || r.via.size() > 64) return false;
  Report again;
  return decodeReport(encodeReport(r), again).empty() && again == r;
}

}  // namespace

TEST_CASE("decodeReport survives 20k random byte strings", "[report]") {
  std::mt19937_64 rng(0x5eed'0001);
  std::uniform_int_distribution<int> len(0, 256);
  std::uniform_int_distribution<int> byte(0, 255);
  int threw = 0, insane = 0, decoded = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes(static_cast<std::size_t>(len(rng)), '\0');
    for (auto& c : bytes)
      c = static_cast<char>(byte(rng));
    // Half of them start like a report, so the decoder gets past the first byte.
    if (i % 2 == 0 && !bytes.empty()) bytes[0] = '\x99';
    try {
      Report out;
      if (decodeReport(bytes, out).empty()) {
        ++decoded;
        if (!decodedIsSane(out)) ++insane;
      }
    } catch (...) {
      ++threw;
    }
  }
  CHECK(threw == 0);
  CHECK(insane == 0);
  INFO(decoded << " random strings decoded");
  SUCCEED();
}

TEST_CASE("decodeReport survives 20k random mutations of a valid encoding", "[report]") {
  const std::string good = encodeReport(sample());
  std::mt19937_64 rng(0x5eed'0002);
  int threw = 0, insane = 0, decoded = 0, refused = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::string bytes = reporthub::test::mutate(good, rng);
    try {
      Report out;
      if (decodeReport(bytes, out).empty()) {
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
  // Both outcomes happen: the corpus is neither all-valid nor all-garbage.
  CHECK(decoded > 0);
  CHECK(refused > 0);
}

TEST_CASE("newReportId seeds each thread apart", "[report]") {
  // Each thread draws its random bits from its own seed: two threads (as two processes)
  // started at once must not make the same ids.
  std::vector<std::string> a, b;
  auto make = [](std::vector<std::string>& out) {
    for (int i = 0; i < 1000; ++i)
      out.push_back(newReportId().substr(14));  // version nibble onwards: no time bits
  };
  std::thread ta(make, std::ref(a)), tb(make, std::ref(b));
  ta.join();
  tb.join();
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  CHECK(all.size() == 2000);
}
