// UTF-8 repair for what ds_send puts on the wire: RFC 5424 wants MSG and PARAM-VALUEs in
// UTF-8, but report text comes from log files and remote peers and may be anything.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace reporthub::outputs::ds_send {

// Appends `in` to `out` with every invalid UTF-8 sequence (stray continuation bytes,
// truncated or overlong sequences, surrogates, code points past U+10FFFF) replaced by
// U+FFFD, one per maximal invalid subpart as Unicode recommends. Returns how many were
// replaced.
std::size_t appendValidUtf8(std::string& out, std::string_view in);

// The longest prefix of valid UTF-8 `text` of at most `max` bytes that does not split a
// character.
std::size_t utf8Prefix(std::string_view text, std::size_t max);

}  // namespace reporthub::outputs::ds_send
