// Report values, ids and the msgpack codec; see report.h.
#include "common/report.h"

#include "common/msgpack_util.h"

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
  // UUIDv7: 48-bit ms timestamp, version, 74 random bits. Time order keeps journal scans
  // and operator searches natural; randomness keeps ids from different nodes apart.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms = static_cast<std::uint64_t>(nowNs() / 1'000'000);
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
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

bool validReportId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '"' || c == '\\') return false;
  }
  return true;
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

std::string decodeReport(std::string_view bytes, Report& out, const ReportLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    return "report larger than " + std::to_string(limits.max_bytes) + " bytes";
  const msgpack::unpack_limit limit(/*array=*/std::max<std::size_t>(kReportFields, limits.max_via),
                                    /*map=*/limits.max_attrs, /*str=*/limits.max_bytes,
                                    /*bin=*/0, /*ext=*/0, /*depth=*/3);
  msgpack::object o;
  if (auto err = mp::unpackExact(bytes, o, limit); !err.empty()) return err;
  if (o.type != msgpack::type::ARRAY || o.via.array.size != kReportFields) {
    return "report is not an array of " + std::to_string(kReportFields) + " fields";
  }
  const msgpack::object* f = o.via.array.ptr;
  std::uint64_t sev = 0;
  if (!mp::getString(f[0], out.id, 128)) return "bad id";
  if (!mp::getInt(f[1], out.ts_ns)) return "bad ts";
  if (!mp::getString(f[2], out.origin, 256)) return "bad origin";
  if (!mp::getString(f[3], out.source, 256)) return "bad source";
  if (!mp::getString(f[4], out.category, 256)) return "bad category";
  if (!mp::getUint(f[5], sev) || sev > 3) return "bad severity";
  out.severity = static_cast<Severity>(sev);
  if (!mp::getString(f[6], out.text, limits.max_bytes)) return "bad text";
  if (f[7].type != msgpack::type::MAP) return "bad attrs";
  out.attrs.clear();
  for (std::uint32_t i = 0; i < f[7].via.map.size; ++i) {
    const auto& kv = f[7].via.map.ptr[i];
    std::string k, v;
    if (!mp::getString(kv.key, k, 256) || !mp::getString(kv.val, v, limits.max_field)) {
      return "bad attr";
    }
    out.attrs.insert_or_assign(std::move(k), std::move(v));
  }
  if (f[8].type != msgpack::type::ARRAY || f[8].via.array.size > limits.max_via) return "bad via";
  out.via.clear();
  for (std::uint32_t i = 0; i < f[8].via.array.size; ++i) {
    std::string node;
    if (!mp::getString(f[8].via.array.ptr[i], node, 256)) return "bad via entry";
    out.via.push_back(std::move(node));
  }
  if (!validReportId(out.id)) return "invalid id";
  return {};
}

}  // namespace reporthub
