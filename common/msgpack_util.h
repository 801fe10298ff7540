// Bounded msgpack decoding shared by the report codec and the wire envelope: every decode
// states its limits and must consume its input exactly, so a 5-byte frame can never ask for
// gigabytes, nest without end, or smuggle trailing bytes.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace reporthub::mp {

// Unpacks `bytes` into `out` under `limit`. Returns "" or the reason for refusal.
// `out` points into `bytes` (strings are not copied) and into a per-thread zone that the
// next call on the same thread reuses: use it before decoding anything else. Reusing the
// zone spares a malloc per message on the hot path.
std::string unpackExact(std::string_view bytes, msgpack::object& out,
                        const msgpack::unpack_limit& limit);

// Typed accessors that report a reason instead of throwing.
bool getString(const msgpack::object& o, std::string& out, std::size_t max_len);
bool getStringView(const msgpack::object& o, std::string_view& out, std::size_t max_len);
bool getUint(const msgpack::object& o, std::uint64_t& out);
bool getInt(const msgpack::object& o, std::int64_t& out);
bool getBool(const msgpack::object& o, bool& out);

}  // namespace reporthub::mp
