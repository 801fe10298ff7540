// The mail message for one report and one user; see message.h.
#include "outputs/desksend/message.h"

#include <array>
#include <ctime>
#include <vector>

namespace reporthub::outputs::desksend {

namespace {

constexpr std::size_t kFoldAt = 78;        // RFC 5322 §2.1.1: SHOULD stay within 78
constexpr std::size_t kLongestWord = 900;  // beyond this a line could pass the 998 limit
constexpr std::size_t kWordBytes = 45;     // UTF-8 bytes per encoded word: 60 base64 chars,
                                           // 72 with "=?utf-8?B?" and "?=" (limit 75)
constexpr std::size_t kSubjectText = 100;  // bytes of the report text in the subject

bool isAtext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one (overlong
// forms, surrogates and code points past U+10FFFF are invalid).
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = static_cast<unsigned char>(in[i]) << 16 |
                            static_cast<unsigned char>(in[i + 1]) << 8 |
                            static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void appendHex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '=';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Header text on one line: control characters as spaces, whitespace runs as one space,
// trimmed. Invalid UTF-8 is left to the caller (sanitizeUtf8 first).
std::string oneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string isoTime(std::int64_t ts_ns) {
  const std::time_t secs = static_cast<std::time_t>(ts_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  const long ms = static_cast<long>((ts_ns / 1'000'000) % 1000);
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 ? 0 : ms);
  return buf;
}

// Body text with CRLF line ends and without control characters other than tab.
void appendBodyText(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
}

// Whether a CRLF body may go as 7bit: ASCII only and no line past 998 octets.
bool sevenBitSafe(std::string_view body) {
  std::size_t line = 0;
  for (char c : body) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
    line = c == '\n' ? 0 : line + 1;
    if (line > 998) return false;
  }
  return true;
}

}  // namespace

std::string mailAddress(std::string_view user, std::string_view domain) {
  if (user.find('@') != std::string_view::npos || domain.empty()) return std::string(user);
  std::string out(user);
  out += '@';
  out += domain;
  return out;
}

std::string bareAddress(std::string_view from) {
  const auto open = from.rfind('<');
  const auto close = from.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    from = from.substr(open + 1, close - open - 1);
  }
  while (!from.empty() && from.front() == ' ')
    from.remove_prefix(1);
  while (!from.empty() && from.back() == ' ')
    from.remove_suffix(1);
  return std::string(from);
}

std::string sanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8Length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string encodeNamePart(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_') {
      out += c;
    } else {
      appendHex(out, static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::optional<std::string> decodeNamePart(std::string_view encoded) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '=') {
      if (i + 2 >= encoded.size()) return std::nullopt;
      const int hi = hex(encoded[i + 1]), lo = hex(encoded[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_') {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string messageId(const Report& r) {
  return "<" + encodeNamePart(r.id) + "@" +
         encodeNamePart(r.origin.empty() ? "reporthub" : r.origin) + ">";
}

std::string formatDate(std::int64_t ts_ns) {
  // Fixed English names: strftime's %a and %b follow the locale, RFC 5322 does not.
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = static_cast<std::time_t>(ts_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string subjectText(const Report& r) {
  std::string_view text = r.text;
  const auto nl = text.find_first_of("\r\n");
  bool cut = nl != std::string_view::npos;
  text = text.substr(0, nl);
  if (text.size() > kSubjectText) {
    // Cut on a character boundary: never half of a UTF-8 sequence.
    std::size_t end = kSubjectText;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    text = text.substr(0, end);
    cut = true;
  }
  std::string out =
      "[" + r.category + "] " + std::string(toString(r.severity)) + " from " + r.origin + ": ";
  out += text;
  if (cut) out += " ...";
  return out;
}

std::string headerField(std::string_view name, std::string_view value) {
  const std::string text = oneLine(sanitizeUtf8(value));
  bool encode = text.find("=?") != std::string::npos;
  std::size_t word = 0;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) encode = true;
    word = c == ' ' ? 0 : word + 1;
    if (word > kLongestWord) encode = true;
  }
  std::string out(name);
  out += ':';
  std::size_t line = out.size();
  if (!encode) {
    // Fold before a space so that unfolding (removing the CRLF) gives the value back.
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find(' ', pos);
      if (end == std::string::npos) end = text.size();
      const std::size_t len = end - pos;
      if (line + 1 + len > kFoldAt && line > name.size() + 1) {
        out += "\r\n";
        line = 0;
      }
      out += ' ';
      out.append(text, pos, len);
      line += 1 + len;
      pos = end + 1;
    }
  } else {
    // Encoded words hold whole characters; the whitespace between two of them is dropped
    // when they are decoded, so the spaces of the text travel inside the words.
    std::size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
      // The first word shares its line with the field name: fewer bytes fit in it.
      const std::size_t room = first ? kFoldAt - std::min(kFoldAt, line + 13) : kFoldAt;
      const std::size_t bytes = std::max<std::size_t>(std::min(kWordBytes, room / 4 * 3), 6);
      std::size_t end = pos;
      while (end < text.size()) {
        const std::size_t n = std::max<std::size_t>(utf8Length(text, end), 1);
        if (end + n - pos > bytes) break;
        end += n;
      }
      if (!first) out += "\r\n";
      out += " =?utf-8?B?";
      out += base64(std::string_view(text).substr(pos, end - pos));
      out += "?=";
      first = false;
      pos = end;
    }
  }
  out += "\r\n";
  return out;
}

std::string addressField(std::string_view name, std::string_view value) {
  const std::string text = oneLine(sanitizeUtf8(value));
  const auto open = text.rfind('<');
  if (open == std::string::npos || !text.ends_with('>')) return headerField(name, text);
  std::string display = text.substr(0, open);
  while (!display.empty() && display.back() == ' ')
    display.pop_back();
  const std::string addr = text.substr(open);
  if (display.empty()) return std::string(name) + ": " + addr + "\r\n";
  bool ascii = true, atoms = true;
  for (char c : display) {
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
    if (!isAtext(c) && c != ' ') atoms = false;
  }
  if (!ascii || display.find("=?") != std::string::npos) {
    // An encoded display name; the address itself stays as it is.
    std::string field = headerField(name, display);
    field.resize(field.size() - 2);
    return field + "\r\n " + addr + "\r\n";
  }
  if (atoms) return std::string(name) + ": " + display + " " + addr + "\r\n";
  std::string quoted = "\"";
  for (char c : display) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return std::string(name) + ": " + quoted + "\" " + addr + "\r\n";
}

std::string quotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t line = 0;
  const auto emit = [&](std::string_view token) {
    // A soft line break keeps every encoded line within 76 characters, '=' included.
    if (line + token.size() > 75) {
      out += "=\r\n";
      line = 0;
    }
    out += token;
    line += token.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out += "\r\n";
      line = 0;
      ++i;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    const bool at_end = i + 1 == text.size() || text[i + 1] == '\r';
    // Trailing whitespace would be stripped in transit: encode it.
    if ((u >= 33 && u <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_end)) {
      emit(std::string_view(&text[i], 1));
    } else {
      std::string hex;
      appendHex(hex, u);
      emit(hex);
    }
  }
  return out;
}

std::string formatMessage(const Report& r, std::string_view from, std::string_view to) {
  std::string body;
  appendBodyText(body, sanitizeUtf8(r.text));
  body += "\r\n\r\n";
  const auto field = [&](std::string_view label, std::string_view value) {
    body += label;
    appendBodyText(body, sanitizeUtf8(oneLine(value)));
    body += "\r\n";
  };
  field("Category: ", r.category);
  field("Severity: ", toString(r.severity));
  field("Origin:   ", r.origin);
  field("Source:   ", r.source);
  field("Time:     ", isoTime(r.ts_ns));
  if (!r.via.empty()) {
    std::string via;
    for (const auto& n : r.via)
      via += (via.empty() ? "" : ", ") + n;
    field("Via:      ", via);
  }
  field("Id:       ", r.id);
  if (!r.attrs.empty()) {
    body += "\r\nAttributes:\r\n";
    for (const auto& [k, v] : r.attrs)
      field("  " + oneLine(k) + ": ", v);
  }
  const bool seven_bit = sevenBitSafe(body);

  std::string msg;
  msg.reserve(body.size() + 1024);
  msg += addressField("From", from);
  msg += addressField("To", to);
  msg += "Date: " + formatDate(r.ts_ns) + "\r\n";
  msg += "Message-ID: " + messageId(r) + "\r\n";
  msg += headerField("Subject", subjectText(r));
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += seven_bit ? "Content-Transfer-Encoding: 7bit\r\n"
                   : "Content-Transfer-Encoding: quoted-printable\r\n";
  // RFC 3834: no vacation or out-of-office replies to a machine.
  msg += "Auto-Submitted: auto-generated\r\n";
  msg += headerField("X-Reporthub-Id", r.id);
  msg += headerField("X-Reporthub-Category", r.category);
  msg += headerField("X-Reporthub-Severity", toString(r.severity));
  msg += headerField("X-Reporthub-Origin", r.origin);
  msg += "\r\n";
  msg += seven_bit ? body : quotedPrintable(body);
  return msg;
}

}  // namespace reporthub::outputs::desksend
