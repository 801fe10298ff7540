// The RFC 5424 formatter; see rfc5424.h. The message is built front to back in one string:
// header, structured data, text, each cut to what is left of max_message, so the text
// gives way before the structured data and the structured data never loses its closing
// bracket.
#include "outputs/ds_send/rfc5424.h"

#include "common/syslog.h"
#include "outputs/ds_send/utf8.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace reporthub::outputs::ds_send {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool printUsAscii(char c) {
  return c >= 33 && c <= 126;
}

// HOSTNAME, APP-NAME: printable US-ASCII without space, or "-" when nothing is left.
// Anything else is replaced by '_' rather than dropped, so the name stays recognisable.
void appendHeaderField(std::string& out, std::string_view s, std::size_t max, bool& truncated) {
  if (s.empty()) {
    out += '-';
    return;
  }
  if (s.size() > max) {
    truncated = true;
    s = s.substr(0, max);
  }
  for (char c : s)
    out += printUsAscii(c) ? c : '_';
}

// 2026-11-22T06:32:29.123456Z, or "-" for a time RFC 3339 cannot write (before year 0 or
// after 9999).
void appendTimestamp(std::string& out, std::int64_t ts_ns) {
  constexpr std::int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  std::int64_t secs = ts_ns / 1'000'000'000;
  std::int64_t ns = ts_ns % 1'000'000'000;
  if (ns < 0) {
    ns += 1'000'000'000;
    --secs;
  }
  std::tm tm{};
  const auto t = static_cast<std::time_t>(secs);
  if (secs > kMaxSeconds || gmtime_r(&t, &tm) == nullptr || tm.tm_year < -1900) {
    out += '-';
    return;
  }
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(ns / 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

// ` NAME="VALUE"` with the value made valid UTF-8, escaped (", \ and ] get a backslash) and
// cut at a character boundary so that the escaped value stays within `max` bytes.
void appendParam(std::string& out, std::string_view name, std::string_view value, std::size_t max,
                 FormatNotes& notes) {
  std::string valid;
  notes.utf8_replaced += appendValidUtf8(valid, value);
  out += ' ';
  out += name;
  out += "=\"";
  std::size_t used = 0;
  for (std::size_t i = 0; i < valid.size();) {
    // One character at a time, so a cut never splits one or separates an escape from its
    // character.
    std::size_t n = 1;
    while (i + n < valid.size() && (static_cast<unsigned char>(valid[i + n]) & 0xC0) == 0x80)
      ++n;
    const char c = valid[i];
    const bool escape = c == '"' || c == '\\' || c == ']';
    if (used + n + escape > max) {
      notes.truncated = true;
      break;
    }
    if (escape) out += '\\';
    out.append(valid, i, n);
    used += n + escape;
    i += n;
  }
  out += '"';
}

constexpr std::string_view kOwnParams[] = {"id", "category", "source", "via"};

}  // namespace

bool validSdName(std::string_view s) {
  return !s.empty() && s.size() <= kMaxSdName && std::all_of(s.begin(), s.end(), [](char c) {
    return printUsAscii(c) && c != '=' && c != ']' && c != '"';
  });
}

bool validMsgId(std::string_view s) {
  // "-" alone is the NILVALUE and would read as "no MSGID".
  return !s.empty() && s != "-" && s.size() <= kMaxMsgId &&
         std::all_of(s.begin(), s.end(), printUsAscii);
}

std::string formatMessage(const Report& r, const FormatOptions& o, FormatNotes& notes) {
  std::string out;
  out.reserve(256 + r.text.size());
  const int pri =
      std::clamp(o.facility, 0, syslog::kMaxFacility) * 8 + syslog::fromReport(r.severity);
  out += '<';
  out += std::to_string(pri);
  out += ">1 ";
  appendTimestamp(out, r.ts_ns);
  out += ' ';
  appendHeaderField(out, r.origin, kMaxHostname, notes.truncated);
  out += ' ';
  appendHeaderField(out, o.app_name, kMaxAppName, notes.truncated);
  out += " - ";
  out += validMsgId(r.category) ? std::string_view(r.category) : std::string_view("-");
  out += " [";
  out += kSdId;
  appendParam(out, "id", r.id, kMaxParamValue, notes);
  appendParam(out, "category", r.category, kMaxParamValue, notes);
  appendParam(out, "source", r.source, kMaxParamValue, notes);
  if (!r.via.empty()) {
    std::string via;
    for (const auto& node : r.via) {
      if (!via.empty()) via += ',';
      via += node;
    }
    appendParam(out, "via", via, kMaxParamValue, notes);
  }
  // The header and our own parameters fit in any max_message above ~2.5 KiB; attrs take what
  // is left after keeping some room for the text, and those that do not fit are left out
  // whole rather than cut, so no attr arrives with a value it never had.
  const std::size_t text_room = std::min(r.text.size() + kBom.size() + 1, o.max_message / 2);
  for (const auto& [name, value] : r.attrs) {
    if (!validSdName(name) ||
        std::find(std::begin(kOwnParams), std::end(kOwnParams), name) != std::end(kOwnParams)) {
      ++notes.bad_attr_names;
      continue;
    }
    std::string param;
    FormatNotes param_notes;
    appendParam(param, name, value, kMaxParamValue, param_notes);
    if (out.size() + param.size() + 1 + text_room > o.max_message) {
      ++notes.attrs_left_out;
      continue;
    }
    out += param;
    notes.utf8_replaced += param_notes.utf8_replaced;
    notes.truncated = notes.truncated || param_notes.truncated;
  }
  out += ']';
  if (r.text.empty()) return out;

  std::string text;
  notes.utf8_replaced += appendValidUtf8(text, r.text);
  const std::size_t room = o.max_message > out.size() + 1 + kBom.size()
                               ? o.max_message - out.size() - 1 - kBom.size()
                               : 0;
  const std::size_t keep = utf8Prefix(text, room);
  if (keep < text.size()) notes.truncated = true;
  out += ' ';
  out += kBom;
  out.append(text, 0, keep);
  return out;
}

void appendFrame(std::string& out, std::string_view message) {
  out += std::to_string(message.size());
  out += ' ';
  out += message;
}

}  // namespace reporthub::outputs::ds_send
