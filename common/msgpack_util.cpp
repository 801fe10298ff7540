// Bounded msgpack helpers; see msgpack_util.h.
#include "common/msgpack_util.h"

namespace reporthub::mp {

namespace {
bool referenceInput(msgpack::type::object_type, std::size_t, void*) {
  return true;
}
}  // namespace

std::string unpackExact(std::string_view bytes, msgpack::object& out,
                        const msgpack::unpack_limit& limit) {
  thread_local msgpack::zone zone;
  zone.clear();
  std::size_t offset = 0;
  bool referenced = false;
  try {
    out = msgpack::unpack(zone, bytes.data(), bytes.size(), offset, referenced, &referenceInput,
                          nullptr, limit);
  } catch (const msgpack::insufficient_bytes&) {
    return "truncated msgpack";
  } catch (const msgpack::depth_size_overflow&) {
    return "msgpack nesting over limit";
  } catch (const msgpack::size_overflow&) {
    return "msgpack size over limit";
  } catch (const std::exception& e) {
    return std::string("invalid msgpack: ") + e.what();
  }
  if (offset != bytes.size()) return "trailing bytes after msgpack value";
  return {};
}

bool getString(const msgpack::object& o, std::string& out, std::size_t max_len) {
  std::string_view v;
  if (!getStringView(o, v, max_len)) return false;
  out.assign(v);
  return true;
}

bool getStringView(const msgpack::object& o, std::string_view& out, std::size_t max_len) {
  if (o.type != msgpack::type::STR || o.via.str.size > max_len) return false;
  out = std::string_view(o.via.str.ptr, o.via.str.size);
  return true;
}

bool getUint(const msgpack::object& o, std::uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  out = o.via.u64;
  return true;
}

bool getInt(const msgpack::object& o, std::int64_t& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(o.via.u64);
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return true;
  }
  return false;
}

bool getBool(const msgpack::object& o, bool& out) {
  if (o.type != msgpack::type::BOOLEAN) return false;
  out = o.via.boolean;
  return true;
}

}  // namespace reporthub::mp
