// UTF-8 repair; see utf8.h. Written by hand rather than with iconv: iconv either stops at the
// first bad byte or drops it, and neither tells the reader that something was there.
#include "outputs/ds_send/utf8.h"

namespace reporthub::outputs::ds_send {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Length of the valid sequence starting at in[i], or 0 if it is invalid. `bad` is set to
// the length of its maximal invalid subpart (at least 1) when it is.
std::size_t sequenceLength(std::string_view in, std::size_t i, std::size_t& bad) {
  const auto c = static_cast<unsigned char>(in[i]);
  bad = 1;
  if (c < 0x80) return 1;
  std::size_t n = 0;
  // The second byte's allowed range excludes overlongs (E0, F0), surrogates (ED) and
  // code points past U+10FFFF (F4) (Unicode Table 3-7).
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;  // C0, C1, F5..FF never start a sequence; 80..BF is a stray continuation
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= in.size()) return 0;
    const auto b = static_cast<unsigned char>(in[i + k]);
    const bool ok = k == 1 ? b >= lo && b <= hi : continuation(b);
    if (!ok) return 0;
    bad = k + 1;
  }
  return n;
}

}  // namespace

std::size_t appendValidUtf8(std::string& out, std::string_view in) {
  std::size_t replaced = 0;
  std::size_t i = 0;
  while (i < in.size()) {
    // Runs of ASCII are the common case: copy them in one go.
    std::size_t j = i;
    while (j < in.size() && static_cast<unsigned char>(in[j]) < 0x80)
      ++j;
    out.append(in.substr(i, j - i));
    i = j;
    if (i >= in.size()) break;
    std::size_t bad = 1;
    const std::size_t n = sequenceLength(in, i, bad);
    if (n > 0) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      // `bad` counts the lead byte and the continuation bytes that were still valid; the
      // byte that broke the sequence starts the next attempt.
      out.append(kReplacement);
      ++replaced;
      i += bad;
    }
  }
  return replaced;
}

std::size_t utf8Prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text.size();
  std::size_t n = max;
  while (n > 0 && continuation(static_cast<unsigned char>(text[n])))
    --n;
  return n;
}

}  // namespace reporthub::outputs::ds_send
