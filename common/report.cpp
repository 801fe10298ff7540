// Report values, ids and the msgpack codec; see report.h.
#include "common/report.h"

#include "common/msgpack_util.h"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <random>

namespace reporthub {

namespace {
constexpr std::array<std::string_view, 4> kSeverityNames = {"info", "warning", "error", "critical"};
constexpr std::uint32_t kReportFields = 9;
}  // namespace

std::optional<Severity> parseSeverity(std::string_view text) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == text) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

std::string_view toString(Severity s) {
  auto i = static_cast<std::size_t>(s);
  return i < kSeverityNames.size() ? kSeverityNames[i] : "invalid";
}

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string newReportId() {
  std::string out;
  newReportId(nowNs(), out);
  return out;
}

namespace {

// The random bits of ids: splitmix64 (Steele, Lea and Flood) over a counter seeded once per
// thread from the system's entropy source. An add and two multiplies per 64 bits (with
// mt19937_64 and formatting by nibbles, ids took 6 % of ds_receive's time); the output is a
// bijection of the counter, so one thread never draws the same 64 bits twice.
std::uint64_t idRandom() {
  thread_local std::uint64_t state = [] {
    std::random_device dev;
    return (static_cast<std::uint64_t>(dev()) << 32) ^ dev();
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

// "00".."ff": each byte of an id becomes two characters in one copy.
constexpr auto kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 0x0f];
  }
  return t;
}();

}  // namespace

void newReportId(std::int64_t now_ns, std::string& out) {
  // UUIDv7: 48-bit ms timestamp, version, 74 random bits. Time order keeps journal scans
  // and operator searches natural; randomness keeps ids from different nodes apart.
  const auto ms = static_cast<std::uint64_t>(now_ns / 1'000'000);
  const std::uint64_t r1 = idRandom(), r2 = idRandom();
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | ((r1 >> 8) & 0x0f));
  b[7] = static_cast<std::uint8_t>(r1);
  b[8] = static_cast<std::uint8_t>(0x80 | ((r2 >> 56) & 0x3f));
  for (int i = 9; i < 16; ++i)
    b[i] = static_cast<std::uint8_t>(r2 >> (8 * (15 - i)));
  // Where each byte's two characters go in 8-4-4-4-12 form.
  static constexpr std::array<std::uint8_t, 16> kAt = {0,  2,  4,  6,  9,  11, 14, 16,
                                                       19, 21, 24, 26, 28, 30, 32, 34};
  char text[36];
  text[8] = text[13] = text[18] = text[23] = '-';
  for (std::size_t i = 0; i < 16; ++i)
    std::memcpy(text + kAt[i], &kHexPairs[2 * b[i]], 2);
  out.assign(text, sizeof text);
}

bool validReportId(std::string_view id) {
  // Checked for every report the hub accepts: one table lookup per byte.
  static constexpr auto kAllowed = [] {
    std::array<bool, 256> ok{};
    for (int c = 0x21; c < 0x7f; ++c)
      ok[static_cast<std::size_t>(c)] = c != '[' && c != ']' && c != '"' && c != '\\';
    return ok;
  }();
  if (id.empty() || id.size() > 128) return false;
  bool all = true;
  for (char c : id)
    all &= kAllowed[static_cast<unsigned char>(c)];
  return all;
}

std::string encodeReport(const Report& r) {
  msgpack::sbuffer buf(256 + r.text.size());
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(kReportFields);
  pk.pack(r.id);
  pk.pack(r.ts_ns);
  pk.pack(r.origin);
  pk.pack(r.source);
  pk.pack(r.category);
  pk.pack(static_cast<std::uint8_t>(r.severity));
  pk.pack(r.text);
  pk.pack_map(static_cast<std::uint32_t>(r.attrs.size()));
  for (const auto& [k, v] : r.attrs) {
    pk.pack(k);
    pk.pack(v);
  }
  pk.pack(r.via);
  return std::string(buf.data(), buf.size());
}

ReportView viewOf(const Report& r) {
  ReportView v{r.id, r.ts_ns, r.origin, r.source, r.category, r.severity, r.text, {}, {}};
  v.attrs.assign(r.attrs.begin(), r.attrs.end());
  v.via.assign(r.via.begin(), r.via.end());
  return v;
}

namespace {

using Attr = std::pair<std::string_view, std::string_view>;

// a < b, mostly told by the first bytes (attribute names seldom share one).
bool keyLess(std::string_view a, std::string_view b) {
  if (!a.empty() && !b.empty() && a[0] != b[0])
    return static_cast<unsigned char>(a[0]) < static_cast<unsigned char>(b[0]);
  return a < b;
}

// Reads n attribute pairs into `attrs` in key order with each key once, as a std::map
// would keep them. Encoders write them in that order already (encodeReport from a map,
// ds_receive sorted), so the common case is one comparison per key and no sorting.
bool readAttrs(mp::Reader& in, std::uint32_t n, std::size_t max_field, std::vector<Attr>& attrs) {
  attrs.resize(n);
  bool ordered = true;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!in.str(attrs[i].first, 256) || !in.str(attrs[i].second, max_field)) return false;
    if (i > 0 && !keyLess(attrs[i - 1].first, attrs[i].first)) ordered = false;
  }
  if (ordered) return true;
  // Keys out of order or repeated: sorted stably, the last of equal keys kept.
  std::stable_sort(attrs.begin(), attrs.end(),
                   [](const Attr& a, const Attr& b) { return a.first < b.first; });
  std::size_t kept = 0;
  for (std::size_t i = 0; i < attrs.size(); ++i) {
    if (kept > 0 && attrs[kept - 1].first == attrs[i].first) {
      attrs[kept - 1] = attrs[i];
    } else {
      attrs[kept++] = attrs[i];
    }
  }
  attrs.resize(kept);
  return true;
}

}  // namespace

std::string decodeReport(std::string_view bytes, ReportView& out, const ReportLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    return "report larger than " + std::to_string(limits.max_bytes) + " bytes";
  mp::Reader in(bytes);
  auto refuse = [&](const char* reason) -> std::string {
    return in.truncated() ? "truncated msgpack" : reason;
  };
  std::uint32_t n = 0;
  if (!in.array(n, kReportFields) || n != kReportFields) {
    return refuse("report is not an array of 9 fields");
  }
  std::uint64_t sev = 0;
  if (!in.str(out.id, 128)) return refuse("bad id");
  if (!in.i64(out.ts_ns)) return refuse("bad ts");
  if (!in.str(out.origin, 256)) return refuse("bad origin");
  if (!in.str(out.source, 256)) return refuse("bad source");
  if (!in.str(out.category, 256)) return refuse("bad category");
  if (!in.u64(sev) || sev > 3) return refuse("bad severity");
  out.severity = static_cast<Severity>(sev);
  if (!in.str(out.text, limits.max_bytes)) return refuse("bad text");
  if (!in.map(n, static_cast<std::uint32_t>(limits.max_attrs))) return refuse("bad attrs");
  if (!readAttrs(in, n, limits.max_field, out.attrs)) return refuse("bad attr");
  if (!in.array(n, static_cast<std::uint32_t>(limits.max_via))) return refuse("bad via");
  out.via.resize(n);
  for (auto& node : out.via) {
    if (!in.str(node, 256)) return refuse("bad via entry");
  }
  if (!in.done()) return "trailing bytes after the report";
  if (!validReportId(out.id)) return "invalid id";
  return {};
}

void assign(Report& out, const ReportView& v) {
  out.id.assign(v.id);
  out.ts_ns = v.ts_ns;
  out.origin.assign(v.origin);
  out.source.assign(v.source);
  out.category.assign(v.category);
  out.severity = v.severity;
  out.text.assign(v.text);
  // A source's reports mostly carry the same attributes: then only values are assigned.
  const bool same_keys =
      out.attrs.size() == v.attrs.size() &&
      std::equal(v.attrs.begin(), v.attrs.end(), out.attrs.begin(),
                 [](const Attr& a, const auto& node) { return a.first == node.first; });
  if (same_keys) {
    auto node = out.attrs.begin();
    for (const Attr& a : v.attrs)
      (node++)->second.assign(a.second);
  } else {
    out.attrs.clear();
    for (const Attr& a : v.attrs)
      out.attrs.emplace_hint(out.attrs.end(), a.first, a.second);
  }
  out.via.resize(v.via.size());
  for (std::size_t i = 0; i < v.via.size(); ++i)
    out.via[i].assign(v.via[i]);
}

std::string decodeReport(std::string_view bytes, Report& out, const ReportLimits& limits) {
  thread_local ReportView view;
  std::string err = decodeReport(bytes, view, limits);
  if (err.empty()) assign(out, view);
  return err;
}

}  // namespace reporthub
