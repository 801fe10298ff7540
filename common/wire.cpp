// Envelope encoding for the child protocol; see wire.h. Each envelope is a msgpack array
// [version, type, fields...] with positional fields: compact and cheap to decode.
#include "common/wire.h"

#include "common/msgpack_util.h"

#include <msgpack.hpp>

namespace reporthub::wire {

namespace {

constexpr std::size_t kMaxName = 256;
constexpr std::size_t kMaxParams = 64;

using Packer = msgpack::packer<msgpack::sbuffer>;

void header(Packer& pk, std::size_t fields, std::uint8_t type) {
  pk.pack_array(static_cast<std::uint32_t>(fields + 2));
  pk.pack(kVersion);
  pk.pack(type);
}

// Reads the fields of one envelope in order, each within its bound. Decoding into the
// alternative `out` already holds reuses its vectors and strings.
class Fields {
 public:
  explicit Fields(std::string_view bytes) : in_(bytes) {}

  bool truncated() const { return in_.truncated(); }
  bool done() const { return in_.done(); }

  bool count(std::uint32_t n) {
    std::uint32_t got = 0;
    return in_.array(got, n) && got == n;
  }
  bool count(std::uint32_t& n, std::uint32_t min, std::uint32_t max) {
    return in_.array(n, max) && n >= min;
  }
  bool str(std::string& out, std::size_t max = kMaxName) {
    std::string_view v;
    if (!in_.str(v, max)) return false;
    out.assign(v);
    return true;
  }
  bool u64(std::uint64_t& out) { return in_.u64(out); }
  bool u64(std::uint64_t& out, std::uint64_t max) { return in_.u64(out) && out <= max; }
  bool i64(std::int64_t& out) { return in_.i64(out); }
  bool boolean(bool& out) { return in_.boolean(out); }
  bool names(std::vector<std::string>& out) {
    std::uint32_t n = 0;
    if (!in_.array(n, kMaxParams)) return false;
    out.resize(n);
    for (auto& s : out) {
      if (!str(s)) return false;
    }
    return true;
  }
  // A non-empty array of at most kMaxBatch elements, each read by `item`.
  template <class T, class F>
  bool batch(std::vector<T>& out, F item) {
    std::uint32_t n = 0;
    if (!count(n, 1, kMaxBatch)) return false;
    out.resize(n);
    for (auto& x : out) {
      if (!item(*this, x)) return false;
    }
    return true;
  }
  bool sizes(std::vector<std::uint32_t>& out) {
    std::uint32_t n = 0;
    if (!count(n, 1, kMaxBatch)) return false;
    out.resize(n);
    for (auto& size : out) {
      std::uint64_t v = 0;
      if (!u64(v, kMaxBodyBytes)) return false;
      size = static_cast<std::uint32_t>(v);
    }
    return true;
  }
  bool targets(std::vector<Target>& out) {
    std::uint32_t n = 0;
    if (!in_.array(n, kMaxParams)) return false;
    out.resize(n);
    for (auto& t : out) {
      if (!count(2) || !str(t.recipient) || !names(t.params)) return false;
    }
    return true;
  }

 private:
  mp::Reader in_;
};

// A report of a submission: [id, category], or [id, category, recipient, via] from a
// remote node. The seq is not part of it.
void packSubmit(Packer& pk, const Submit& m) {
  const bool remote = !m.recipient.empty();
  pk.pack_array(remote ? 4 : 2);
  pk.pack(m.id);
  pk.pack(m.category);
  if (remote) {
    pk.pack(m.recipient);
    pk.pack(m.via);
  }
}

bool readSubmit(Fields& f, Submit& m) {
  std::uint32_t n = 0;
  if (!f.count(n, 2, 4) || n == 3 || !f.str(m.id) || !f.str(m.category)) return false;
  if (n == 2) {
    m.recipient.clear();
    m.via.clear();
    return true;
  }
  return f.str(m.recipient) && !m.recipient.empty() && f.names(m.via);
}

bool readDeliver(Fields& f, Deliver& m) {
  return f.count(3) && f.u64(m.seq) && f.str(m.id) && f.targets(m.targets);
}

// The alternative of type T in `out`, reused if it holds one already.
template <class T>
T& reuse(Envelope& out) {
  if (auto* m = std::get_if<T>(&out)) return *m;
  return out.emplace<T>();
}

void packDeliver(Packer& pk, const Deliver& m) {
  pk.pack_array(3);
  pk.pack(m.seq);
  pk.pack(m.id);
  pk.pack_array(static_cast<std::uint32_t>(m.targets.size()));
  for (const auto& t : m.targets) {
    pk.pack_array(2);
    pk.pack(t.recipient);
    pk.pack(t.params);
  }
}

// Each envelope type's fields, after the header.
void packFields(Packer& pk, const Hello& m, std::uint8_t type) {
  header(pk, 5, type);
  pk.pack(m.role);
  pk.pack(m.id);
  pk.pack(m.pid);
  pk.pack(static_cast<std::uint8_t>(m.kind));
  pk.pack(m.window);
}

void packFields(Packer& pk, const Welcome& m, std::uint8_t type) {
  header(pk, 2, type);
  pk.pack(m.credit);
  pk.pack(m.desk_on);
}

void packFields(Packer& pk, const Ready&, std::uint8_t type) {
  header(pk, 0, type);
}

void packFields(Packer& pk, const Submit& m, std::uint8_t type) {
  header(pk, 2, type);
  pk.pack(m.seq);
  packSubmit(pk, m);
}

void packFields(Packer& pk, const SubmitBatch& m, std::uint8_t type) {
  header(pk, 3, type);
  pk.pack(m.seq);
  pk.pack_array(static_cast<std::uint32_t>(m.reports.size()));
  for (const auto& r : m.reports)
    packSubmit(pk, r);
  pk.pack(m.sizes);
}

void packFields(Packer& pk, const Ack& m, std::uint8_t type) {
  header(pk, 3, type);
  pk.pack(m.upto);
  pk.pack(m.credit);
  pk.pack(m.refused);
}

void packFields(Packer& pk, const DeliverBatch& m, std::uint8_t type) {
  header(pk, 2, type);
  pk.pack_array(static_cast<std::uint32_t>(m.deliveries.size()));
  for (const auto& d : m.deliveries)
    packDeliver(pk, d);
  pk.pack(m.sizes);
}

void packFields(Packer& pk, const Result& m, std::uint8_t type) {
  header(pk, 4, type);
  pk.pack(m.upto);
  pk.pack(static_cast<std::uint8_t>(m.status));
  pk.pack(m.seq);
  pk.pack(m.reason);
}

void packFields(Packer& pk, const Control& m, std::uint8_t type) {
  header(pk, 1, type);
  pk.pack(m.command);
}

// The envelope being encoded, into a per-thread buffer that the next call reuses.
template <class Fields>
std::string_view packed(Fields fields) {
  thread_local msgpack::sbuffer buf(256);
  buf.clear();
  Packer pk(buf);
  fields(pk);
  return std::string_view(buf.data(), buf.size());
}

// The type code of an Envelope alternative: its index.
template <class T, class... Ts>
constexpr std::uint8_t indexIn(const std::variant<Ts...>*) {
  std::uint8_t i = 0;
  bool found = false;
  ((found = found || std::is_same_v<T, Ts>, i += found ? 0 : 1), ...);
  return i;
}
template <class T>
constexpr std::uint8_t kType = indexIn<T>(static_cast<const Envelope*>(nullptr));

// Upper bounds of msgpack's encodings: a string's or array's header takes at most 5 bytes,
// an integer at most 9.
std::size_t strBytes(std::string_view s) {
  return 5 + s.size();
}
std::size_t namesBytes(const std::vector<std::string>& names) {
  std::size_t n = 5;
  for (const auto& s : names)
    n += strBytes(s);
  return n;
}
}  // namespace

std::size_t batchBytes(const Submit& m) {
  return 5 + 9 + strBytes(m.id) + strBytes(m.category) + strBytes(m.recipient) + namesBytes(m.via);
}

std::size_t batchBytes(const Deliver& m) {
  std::size_t n = 5 + 9 + strBytes(m.id) + 5;
  for (const auto& t : m.targets)
    n += 5 + strBytes(t.recipient) + namesBytes(t.params);
  return n;
}

bool hasBody(const Envelope& e) {
  return std::holds_alternative<Submit>(e) || std::holds_alternative<DeliverBatch>(e) ||
         std::holds_alternative<SubmitBatch>(e);
}

std::string_view name(const Envelope& e) {
  static constexpr std::string_view kNames[] = {
      "hello", "welcome", "ready", "submit", "ack", "deliver", "result", "control", "submit batch"};
  return kNames[e.index()];
}

bool splitBodies(std::string_view frame, const std::vector<std::uint32_t>& sizes,
                 std::vector<std::string_view>& out) {
  out.clear();
  std::size_t at = 0;
  for (std::uint32_t n : sizes) {
    if (n > frame.size() - at) return false;
    out.push_back(frame.substr(at, n));
    at += n;
  }
  return at == frame.size();
}

std::string encode(const Envelope& e) {
  return std::string(encodeView(e));
}

std::string_view encodeView(const Envelope& e) {
  return packed([&](Packer& pk) {
    std::visit([&](const auto& m) { packFields(pk, m, static_cast<std::uint8_t>(e.index())); }, e);
  });
}

std::string_view encodeView(const SubmitBatch& m) {
  return packed([&](Packer& pk) { packFields(pk, m, kType<SubmitBatch>); });
}

std::string_view encodeView(const DeliverBatch& m) {
  return packed([&](Packer& pk) { packFields(pk, m, kType<DeliverBatch>); });
}

std::string decode(std::string_view bytes, Envelope& out) {
  if (bytes.size() > kMaxEnvelopeBytes) return "envelope larger than limit";
  Fields f(bytes);
  std::uint32_t n = 0;
  std::uint64_t version = 0, type = 0;
  if (!f.count(n, 2, 2 + 5))
    return f.truncated() ? "truncated msgpack" : "envelope is not an array";
  if (!f.u64(version) || version != kVersion) return "unsupported protocol version";
  if (!f.u64(type)) return "bad message type";
  const std::uint32_t fields = n - 2;
  std::uint64_t small = 0;
  const char* bad = nullptr;
  switch (type) {
    case 0: {
      auto& m = reuse<Hello>(out);
      std::uint64_t window = 0;
      if (fields != 5 || !f.str(m.role) || !f.str(m.id) || !f.i64(m.pid) || !f.u64(small, 1) ||
          !f.u64(window, UINT32_MAX)) {
        bad = "bad hello";
        break;
      }
      m.kind = static_cast<Kind>(small);
      m.window = static_cast<std::uint32_t>(window);
      break;
    }
    case 1: {
      auto& m = reuse<Welcome>(out);
      if (fields != 2 || !f.u64(m.credit) || !f.boolean(m.desk_on)) bad = "bad welcome";
      break;
    }
    case 2:
      reuse<Ready>(out);
      if (fields != 0) bad = "bad ready";
      break;
    case 3: {
      auto& m = reuse<Submit>(out);
      if (fields != 2 || !f.u64(m.seq) || !readSubmit(f, m)) bad = "bad submit";
      break;
    }
    case 8: {
      auto& m = reuse<SubmitBatch>(out);
      if (fields != 3 || !f.u64(m.seq) || !f.batch(m.reports, readSubmit) || !f.sizes(m.sizes) ||
          m.sizes.size() != m.reports.size()) {
        bad = "bad submit batch";
        break;
      }
      for (std::size_t i = 0; i < m.reports.size(); ++i)
        m.reports[i].seq = m.seq + i;
      break;
    }
    case 4: {
      auto& m = reuse<Ack>(out);
      if (fields != 3 || !f.u64(m.upto) || !f.u64(m.credit) || !f.u64(m.refused)) bad = "bad ack";
      break;
    }
    case 5: {
      auto& m = reuse<DeliverBatch>(out);
      if (fields != 2 || !f.batch(m.deliveries, readDeliver) || !f.sizes(m.sizes) ||
          m.sizes.size() != m.deliveries.size()) {
        bad = "bad deliver";
      }
      break;
    }
    case 6: {
      auto& m = reuse<Result>(out);
      if (fields != 4 || !f.u64(m.upto) || !f.u64(small, 2) || !f.u64(m.seq) ||
          !f.str(m.reason, 1024)) {
        bad = "bad result";
        break;
      }
      m.status = static_cast<Status>(small);
      break;
    }
    case 7: {
      auto& m = reuse<Control>(out);
      if (fields != 1 || !f.str(m.command)) bad = "bad control";
      break;
    }
    default:
      return "unknown message type " + std::to_string(type);
  }
  if (bad) return f.truncated() ? "truncated msgpack" : bad;
  if (!f.done()) return "trailing bytes after msgpack value";
  return {};
}

}  // namespace reporthub::wire
