// Envelope encoding for the child protocol; see wire.h. Each envelope is a msgpack array
// [version, type, fields...] with positional fields: compact and cheap to decode.
#include "common/wire.h"

#include "common/msgpack_util.h"

namespace reporthub::wire {

namespace {

constexpr std::size_t kMaxName = 256;
constexpr std::size_t kMaxParams = 64;

using Packer = msgpack::packer<msgpack::sbuffer>;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void header(Packer& pk, std::size_t fields, std::uint8_t type) {
  pk.pack_array(static_cast<std::uint32_t>(fields + 2));
  pk.pack(kVersion);
  pk.pack(type);
}

// Reads positional fields of one decoded envelope with bounds checks.
class Fields {
  static bool strings(const msgpack::object& o, std::vector<std::string>& out) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size > kMaxParams) return false;
    out.clear();
    for (std::uint32_t k = 0; k < o.via.array.size; ++k) {
      std::string s;
      if (!mp::getString(o.via.array.ptr[k], s, kMaxName)) return false;
      out.push_back(std::move(s));
    }
    return true;
  }

 public:
  Fields(const msgpack::object* p, std::uint32_t n) : p_(p), n_(n) {}
  std::uint32_t size() const { return n_; }
  bool str(std::uint32_t i, std::string& out, std::size_t max = kMaxName) const {
    return i < n_ && mp::getString(p_[i], out, max);
  }
  bool u64(std::uint32_t i, std::uint64_t& out) const { return i < n_ && mp::getUint(p_[i], out); }
  bool i64(std::uint32_t i, std::int64_t& out) const { return i < n_ && mp::getInt(p_[i], out); }
  bool boolean(std::uint32_t i, bool& out) const { return i < n_ && mp::getBool(p_[i], out); }
  bool names(std::uint32_t i, std::vector<std::string>& out) const {
    return i < n_ && strings(p_[i], out);
  }
  bool array(std::uint32_t i, Fields& out) const {
    if (i >= n_ || p_[i].type != msgpack::type::ARRAY) return false;
    out = Fields(p_[i].via.array.ptr, p_[i].via.array.size);
    return true;
  }
  // An array of at most kMaxBatch elements, each an array read by `item`.
  template <class T, class F>
  bool batch(std::uint32_t i, std::vector<T>& out, F item) const {
    if (i >= n_ || p_[i].type != msgpack::type::ARRAY || p_[i].via.array.size > kMaxBatch) {
      return false;
    }
    out.resize(p_[i].via.array.size);
    for (std::uint32_t k = 0; k < p_[i].via.array.size; ++k) {
      const msgpack::object& o = p_[i].via.array.ptr[k];
      if (o.type != msgpack::type::ARRAY ||
          !item(Fields(o.via.array.ptr, o.via.array.size), out[k]))
        return false;
    }
    return true;
  }
  bool sizes(std::uint32_t i, std::vector<std::uint32_t>& out) const {
    if (i >= n_ || p_[i].type != msgpack::type::ARRAY || p_[i].via.array.size > kMaxBatch) {
      return false;
    }
    out.resize(p_[i].via.array.size);
    for (std::uint32_t k = 0; k < p_[i].via.array.size; ++k) {
      std::uint64_t v = 0;
      if (!mp::getUint(p_[i].via.array.ptr[k], v) || v > kMaxBodyBytes) return false;
      out[k] = static_cast<std::uint32_t>(v);
    }
    return true;
  }
  bool targets(std::uint32_t i, std::vector<Target>& out) const {
    if (i >= n_ || p_[i].type != msgpack::type::ARRAY || p_[i].via.array.size > kMaxParams) {
      return false;
    }
    out.clear();
    out.reserve(p_[i].via.array.size);
    for (std::uint32_t k = 0; k < p_[i].via.array.size; ++k) {
      const msgpack::object& t = p_[i].via.array.ptr[k];
      if (t.type != msgpack::type::ARRAY || t.via.array.size != 2) return false;
      Target target;
      if (!mp::getString(t.via.array.ptr[0], target.recipient, kMaxName) ||
          !strings(t.via.array.ptr[1], target.params)) {
        return false;
      }
      out.push_back(std::move(target));
    }
    return true;
  }

 private:
  const msgpack::object* p_;
  std::uint32_t n_;
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

bool readSubmit(const Fields& f, Submit& m) {
  const std::uint32_t n = f.size();
  return (n == 2 || n == 4) && f.str(0, m.id) && f.str(1, m.category) &&
         (n == 2 || (f.str(2, m.recipient) && !m.recipient.empty() && f.names(3, m.via)));
}

bool readDeliver(const Fields& f, Deliver& m) {
  return f.size() == 3 && f.u64(0, m.seq) && f.str(1, m.id) && f.targets(2, m.targets);
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

}  // namespace

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
  thread_local msgpack::sbuffer buf(256);
  buf.clear();
  Packer pk(buf);
  const auto type = static_cast<std::uint8_t>(e.index());
  std::visit(Overloaded{
                 [&](const Hello& m) {
                   header(pk, 5, type);
                   pk.pack(m.role);
                   pk.pack(m.id);
                   pk.pack(m.pid);
                   pk.pack(static_cast<std::uint8_t>(m.kind));
                   pk.pack(m.window);
                 },
                 [&](const Welcome& m) {
                   header(pk, 2, type);
                   pk.pack(m.credit);
                   pk.pack(m.desk_on);
                 },
                 [&](const Ready&) { header(pk, 0, type); },
                 [&](const Submit& m) {
                   header(pk, 2, type);
                   pk.pack(m.seq);
                   packSubmit(pk, m);
                 },
                 [&](const SubmitBatch& m) {
                   header(pk, 3, type);
                   pk.pack(m.seq);
                   pk.pack_array(static_cast<std::uint32_t>(m.reports.size()));
                   for (const auto& r : m.reports)
                     packSubmit(pk, r);
                   pk.pack(m.sizes);
                 },
                 [&](const Ack& m) {
                   header(pk, 3, type);
                   pk.pack(m.upto);
                   pk.pack(m.credit);
                   pk.pack(m.refused);
                 },
                 [&](const DeliverBatch& m) {
                   header(pk, 2, type);
                   pk.pack_array(static_cast<std::uint32_t>(m.deliveries.size()));
                   for (const auto& d : m.deliveries)
                     packDeliver(pk, d);
                   pk.pack(m.sizes);
                 },
                 [&](const Result& m) {
                   header(pk, 4, type);
                   pk.pack(m.upto);
                   pk.pack(static_cast<std::uint8_t>(m.status));
                   pk.pack(m.seq);
                   pk.pack(m.reason);
                 },
                 [&](const Control& m) {
                   header(pk, 1, type);
                   pk.pack(m.command);
                 },
             },
             e);
  return std::string_view(buf.data(), buf.size());
}

std::string decode(std::string_view bytes, Envelope& out) {
  if (bytes.size() > kMaxEnvelopeBytes) return "envelope larger than limit";
  // Depth: envelope, deliveries, delivery, targets, target, params.
  static const msgpack::unpack_limit kLimit(/*array=*/kMaxBatch, /*map=*/0,
                                            /*str=*/4096, /*bin=*/0, /*ext=*/0,
                                            /*depth=*/6);
  msgpack::object o;
  if (auto err = mp::unpackExact(bytes, o, kLimit); !err.empty()) return err;
  if (o.type != msgpack::type::ARRAY || o.via.array.size < 2) return "envelope is not an array";
  std::uint64_t version = 0, type = 0;
  if (!mp::getUint(o.via.array.ptr[0], version) || version != kVersion) {
    return "unsupported protocol version";
  }
  if (!mp::getUint(o.via.array.ptr[1], type)) return "bad message type";
  Fields f(o.via.array.ptr + 2, o.via.array.size - 2);
  std::uint64_t small = 0;
  switch (type) {
    case 0: {
      Hello m;
      std::uint64_t window = 0;
      if (f.size() != 5 || !f.str(0, m.role) || !f.str(1, m.id) || !f.i64(2, m.pid) ||
          !f.u64(3, small) || small > 1 || !f.u64(4, window) || window > UINT32_MAX) {
        return "bad hello";
      }
      m.kind = static_cast<Kind>(small);
      m.window = static_cast<std::uint32_t>(window);
      out = std::move(m);
      return {};
    }
    case 1: {
      Welcome m;
      if (f.size() != 2 || !f.u64(0, m.credit) || !f.boolean(1, m.desk_on)) return "bad welcome";
      out = m;
      return {};
    }
    case 2:
      if (f.size() != 0) return "bad ready";
      out = Ready{};
      return {};
    case 3: {
      Submit m;
      Fields report(nullptr, 0);
      if (f.size() != 2 || !f.u64(0, m.seq) || !f.array(1, report) || !readSubmit(report, m)) {
        return "bad submit";
      }
      out = std::move(m);
      return {};
    }
    case 8: {
      SubmitBatch m;
      if (f.size() != 3 || !f.u64(0, m.seq) || !f.batch(1, m.reports, readSubmit) ||
          !f.sizes(2, m.sizes) || m.sizes.size() != m.reports.size() || m.reports.empty()) {
        return "bad submit batch";
      }
      for (std::size_t i = 0; i < m.reports.size(); ++i)
        m.reports[i].seq = m.seq + i;
      out = std::move(m);
      return {};
    }
    case 4: {
      Ack m;
      if (f.size() != 3 || !f.u64(0, m.upto) || !f.u64(1, m.credit) || !f.u64(2, m.refused)) {
        return "bad ack";
      }
      out = m;
      return {};
    }
    case 5: {
      DeliverBatch m;
      if (f.size() != 2 || !f.batch(0, m.deliveries, readDeliver) || !f.sizes(1, m.sizes) ||
          m.sizes.size() != m.deliveries.size() || m.deliveries.empty()) {
        return "bad deliver";
      }
      out = std::move(m);
      return {};
    }
    case 6: {
      Result m;
      if (f.size() != 4 || !f.u64(0, m.upto) || !f.u64(1, small) || small > 2 || !f.u64(2, m.seq) ||
          !f.str(3, m.reason, 1024)) {
        return "bad result";
      }
      m.status = static_cast<Status>(small);
      out = std::move(m);
      return {};
    }
    case 7: {
      Control m;
      if (f.size() != 1 || !f.str(0, m.command)) return "bad control";
      out = std::move(m);
      return {};
    }
    default:
      return "unknown message type " + std::to_string(type);
  }
}

}  // namespace reporthub::wire
