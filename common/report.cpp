// Report values, ids and the msgpack codec; see report.h.
#include "common/report.h"

#include "common/msgpack_util.h"

#include <msgpack.hpp>

#include <array>
#include <chrono>
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

void newReportId(std::int64_t now_ns, std::string& out) {
  // UUIDv7: 48-bit ms timestamp, version, 74 random bits. Time order keeps journal scans
  // and operator searches natural; randomness keeps ids from different nodes apart.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms = static_cast<std::uint64_t>(now_ns / 1'000'000);
  const std::uint64_t r1 = rng(), r2 = rng();
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | ((r1 >> 8) & 0x0f));
  b[7] = static_cast<std::uint8_t>(r1);
  b[8] = static_cast<std::uint8_t>(0x80 | ((r2 >> 56) & 0x3f));
  for (int i = 9; i < 16; ++i)
    b[i] = static_cast<std::uint8_t>(r2 >> (8 * (15 - i)));
  static constexpr char kHex[] = "0123456789abcdef";
  char text[36];
  char* p = text;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHex[b[i] >> 4];
    *p++ = kHex[b[i] & 0x0f];
  }
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

namespace {

// Reads the attrs into `attrs`, whose nodes are reused when the keys are the same as the
// last report's, in the same order (a source's reports mostly carry the same attributes):
// then only the values are assigned, without allocating.
bool readAttrs(mp::Reader& in, std::uint32_t n, std::size_t max_field,
               std::map<std::string, std::string>& attrs) {
  const mp::Reader start = in;
  auto node = attrs.begin();
  std::uint32_t i = 0;
  for (; i < n && node != attrs.end(); ++i, ++node) {
    std::string_view k, v;
    if (!in.str(k, 256) || !in.str(v, max_field)) return false;
    if (k != node->first) break;
    node->second.assign(v);
  }
  if (i == n) {
    attrs.erase(node, attrs.end());
    return true;
  }
  // Other keys: build the map afresh. Later duplicates of a key win, as they always did.
  in = start;
  attrs.clear();
  for (i = 0; i < n; ++i) {
    std::string_view k, v;
    if (!in.str(k, 256) || !in.str(v, max_field)) return false;
    attrs.insert_or_assign(std::string(k), std::string(v));
  }
  return true;
}

}  // namespace

std::string decodeReport(std::string_view bytes, Report& out, const ReportLimits& limits) {
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
  std::string_view s;
  std::uint64_t sev = 0;
  if (!in.str(s, 128)) return refuse("bad id");
  out.id.assign(s);
  if (!in.i64(out.ts_ns)) return refuse("bad ts");
  if (!in.str(s, 256)) return refuse("bad origin");
  out.origin.assign(s);
  if (!in.str(s, 256)) return refuse("bad source");
  out.source.assign(s);
  if (!in.str(s, 256)) return refuse("bad category");
  out.category.assign(s);
  if (!in.u64(sev) || sev > 3) return refuse("bad severity");
  out.severity = static_cast<Severity>(sev);
  if (!in.str(s, limits.max_bytes)) return refuse("bad text");
  out.text.assign(s);
  if (!in.map(n, static_cast<std::uint32_t>(limits.max_attrs))) return refuse("bad attrs");
  if (!readAttrs(in, n, limits.max_field, out.attrs)) return refuse("bad attr");
  if (!in.array(n, static_cast<std::uint32_t>(limits.max_via))) return refuse("bad via");
  out.via.resize(n);
  for (auto& node : out.via) {
    if (!in.str(s, 256)) return refuse("bad via entry");
    node.assign(s);
  }
  if (!in.done()) return "trailing bytes after the report";
  if (!validReportId(out.id)) return "invalid id";
  return {};
}

}  // namespace reporthub
