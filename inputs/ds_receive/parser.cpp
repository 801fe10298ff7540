// Syslog parsing; see parser.h. RFC 5424 is parsed strictly (a broken header is refused, as
// the RFC asks); RFC 3164 leniently, since it describes what senders did rather than a
// format, and a relay is told to pass on whatever it gets.
#include "inputs/ds_receive/parser.h"

#include <ctime>

namespace reporthub::inputs::ds_receive {

namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// `n` digits at s[pos..]; -1 if not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (s.size() < pos + n) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!isDigit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t daysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

int daysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
  return kDays[m - 1];
}

// The next space-delimited token of an RFC 5424 header: 1..max printable US-ASCII bytes,
// followed by one SP (consumed). Empty view on error.
bool headerField(std::string_view& s, std::size_t max, std::string_view& field) {
  std::size_t i = 0;
  while (i < s.size() && s[i] != ' ') {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 33 || c > 126) return false;
    ++i;
  }
  if (i == 0 || i > max || i == s.size()) return false;
  field = s.substr(0, i);
  s.remove_prefix(i + 1);
  if (field == "-") field = {};
  return true;
}

// RFC 5424 STRUCTURED-DATA at the start of `s`: its length, or 0 if it is malformed.
std::size_t structuredData(std::string_view s) {
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n && s[i] == '[') {
    ++i;
    const std::size_t id = i;
    while (i < n && s[i] != ' ' && s[i] != ']') {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 33 || c > 126 || c == '=' || c == '"') return 0;
      ++i;
    }
    if (i == id) return 0;
    while (i < n && s[i] == ' ') {
      const std::size_t name = ++i;
      while (i < n && s[i] != '=') {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 33 || c > 126 || c == ']' || c == '"') return 0;
        ++i;
      }
      if (i == name || i + 1 >= n || s[i + 1] != '"') return 0;
      i += 2;
      // PARAM-VALUE: '"', '\' and ']' are escaped with '\'; a '\' before anything else is
      // literal, and skipping the byte after it is harmless then.
      while (i < n && s[i] != '"')
        i += s[i] == '\\' ? 2 : 1;
      if (i >= n) return 0;
      ++i;
    }
    if (i >= n || s[i] != ']') return 0;
    ++i;
  }
  return i;
}

std::string_view withoutBom(std::string_view msg) {
  if (msg.size() >= 3 && msg.substr(0, 3) == "\xEF\xBB\xBF") msg.remove_prefix(3);
  return msg;
}

const char* parse5424(std::string_view s, SyslogMessage& out) {
  out.format = SyslogMessage::Format::rfc5424;
  std::string_view ts;
  if (!headerField(s, 64, ts)) return "RFC 5424 header: bad TIMESTAMP";
  if (!ts.empty() && !parseRfc3339(ts, out.ts_ns)) return "RFC 5424 header: bad TIMESTAMP";
  if (!headerField(s, 255, out.host)) return "RFC 5424 header: bad HOSTNAME";
  if (!headerField(s, 48, out.app)) return "RFC 5424 header: bad APP-NAME";
  if (!headerField(s, 128, out.procid)) return "RFC 5424 header: bad PROCID";
  // MSGID is the last field before STRUCTURED-DATA, which must follow.
  if (!headerField(s, 32, out.msgid)) return "RFC 5424 header: bad MSGID";
  if (s.empty()) return "RFC 5424: no STRUCTURED-DATA";
  if (s[0] == '-') {
    s.remove_prefix(1);
  } else {
    const std::size_t n = s[0] == '[' ? structuredData(s) : 0;
    if (n == 0) return "RFC 5424: bad STRUCTURED-DATA";
    out.sd = s.substr(0, n);
    s.remove_prefix(n);
  }
  if (!s.empty()) {
    if (s[0] != ' ') return "RFC 5424: bad STRUCTURED-DATA";
    out.msg = withoutBom(s.substr(1));
  }
  return nullptr;
}

int monthOf(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (kMonths[i] == m) return i + 1;
  }
  return 0;
}

// "Mmm dd hh:mm:ss" (dd space-padded or not), optionally with a fraction; advances `s`
// past it and the space after it.
bool bsdTimestamp(std::string_view& s, SyslogMessage& out, LocalTime& local, std::int64_t now) {
  if (s.size() < 14 || s[3] != ' ') return false;
  const int month = monthOf(s.substr(0, 3));
  if (month == 0) return false;
  std::size_t i = 4;
  if (s[i] == ' ') ++i;
  int day = 0;
  const std::size_t day_start = i;
  while (i < s.size() && isDigit(s[i]) && i - day_start < 2)
    day = day * 10 + (s[i++] - '0');
  if (i == day_start || i >= s.size() || s[i] != ' ') return false;
  ++i;
  const int h = digits(s, i, 2), mi = digits(s, i + 3, 2), sec = digits(s, i + 6, 2);
  if (h < 0 || mi < 0 || sec < 0 || s[i + 2] != ':' || s[i + 5] != ':') return false;
  i += 8;
  std::int64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    std::int64_t scale = kNsPerSecond / 10;
    for (++i; i < s.size() && isDigit(s[i]); ++i, scale /= 10)
      frac_ns += (s[i] - '0') * scale;
  }
  if (i < s.size() && s[i] != ' ') return false;
  if (h > 23 || mi > 59 || sec > 60 || day < 1 || day > 31) return false;
  const std::int64_t ns = local.toNs(month, day, h, mi, sec == 60 ? 59 : sec, now);
  if (ns != 0) out.ts_ns = ns + frac_ns;
  s.remove_prefix(i < s.size() ? i + 1 : i);
  return true;
}

bool isoTimestamp(std::string_view& s, SyslogMessage& out) {
  if (s.size() < 20 || s[4] != '-' || !isDigit(s[0])) return false;
  const std::size_t end = s.find(' ');
  std::int64_t ns = 0;
  if (!parseRfc3339(s.substr(0, end), ns)) return false;
  out.ts_ns = ns;
  s.remove_prefix(end == std::string_view::npos ? s.size() : end + 1);
  return true;
}

// A TAG at the start of `s`: "name:", "name[pid]:" or "name[pid]" followed by a space.
// Takes it and the one space after it.
bool tag(std::string_view& s, SyslogMessage& out) {
  constexpr std::size_t kMaxTag = 64;
  std::size_t i = 0;
  while (i < s.size() && i <= kMaxTag && s[i] != ':' && s[i] != '[' && s[i] != ' ') {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 33 || c > 126) return false;
    ++i;
  }
  if (i == 0 || i > kMaxTag || i == s.size()) return false;
  const std::string_view name = s.substr(0, i);
  std::string_view pid;
  if (s[i] == '[') {
    const std::size_t close = s.find(']', i);
    if (close == std::string_view::npos || close - i > 129 || close == i + 1) return false;
    pid = s.substr(i + 1, close - i - 1);
    if (pid.find(' ') != std::string_view::npos) return false;
    i = close + 1;
    if (i < s.size() && s[i] == ':') ++i;
  } else if (s[i] == ':') {
    ++i;
  } else {
    return false;  // a word followed by a space: not a tag
  }
  if (i < s.size() && s[i] != ' ') return false;
  out.app = name;
  out.procid = pid;
  s.remove_prefix(i < s.size() ? i + 1 : i);
  return true;
}

// A word that must be the TAG by its position: taken with the space after it.
void bareTag(std::string_view& s, SyslogMessage& out) {
  constexpr std::size_t kMaxTag = 48;
  const std::size_t sp = s.find(' ');
  if (sp == 0 || sp == std::string_view::npos || sp > kMaxTag) return;
  for (std::size_t i = 0; i < sp; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 33 || c > 126) return;
  }
  out.app = s.substr(0, sp);
  s.remove_prefix(sp + 1);
}

const char* parse3164(std::string_view s, SyslogMessage& out, LocalTime& local, std::int64_t now) {
  out.format = SyslogMessage::Format::rfc3164;
  const bool stamped = bsdTimestamp(s, out, local, now) || isoTimestamp(s, out);
  if (stamped) {
    while (!s.empty() && s[0] == ' ')
      s.remove_prefix(1);
    // HOST TAG: MSG, or TAG: MSG when the sender left the host out (as local daemons do).
    // After HOST, the next word is the TAG even without its colon, as rsyslog reads it: its
    // forward formats write a tag taken from an RFC 5424 APP-NAME that way.
    if (!tag(s, out)) {
      const std::size_t sp = s.find(' ');
      if (sp != std::string_view::npos && sp > 0) {
        out.host = s.substr(0, sp);
        s.remove_prefix(sp + 1);
        if (!tag(s, out)) bareTag(s, out);
      }
    }
  } else {
    tag(s, out);
  }
  out.msg = withoutBom(s);
  if (out.msg.empty() && out.app.empty()) return "empty message";
  return nullptr;
}

}  // namespace

bool parseRfc3339(std::string_view t, std::int64_t& ns) {
  // YYYY-MM-DDTHH:MM:SS
  const int y = digits(t, 0, 4), mo = digits(t, 5, 2), d = digits(t, 8, 2);
  const int h = digits(t, 11, 2), mi = digits(t, 14, 2), s = digits(t, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
      s > 60 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' ||
      t[16] != ':' || d > daysInMonth(y, mo)) {
    return false;
  }
  std::size_t i = 19;
  std::int64_t frac = 0;
  if (i < t.size() && t[i] == '.') {
    std::int64_t scale = kNsPerSecond / 10;
    const std::size_t start = ++i;
    for (; i < t.size() && isDigit(t[i]); ++i, scale /= 10) {
      if (i - start >= 9) return false;
      frac += (t[i] - '0') * scale;
    }
    if (i == start) return false;
  }
  std::int64_t offset_s = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int oh = digits(t, i + 1, 2), om = digits(t, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || t[i + 3] != ':') return false;
    offset_s = (oh * 3600 + om * 60) * (t[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return false;
  }
  if (i != t.size()) return false;
  const std::int64_t secs =
      daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (s == 60 ? 59 : s) - offset_s;
  ns = secs * kNsPerSecond + frac;
  return true;
}

std::int64_t LocalTime::toNs(int month, int day, int hour, int minute, int second,
                             std::int64_t now_ns) {
  const std::int64_t now_s = now_ns / kNsPerSecond;
  if (year_checked_at_s_ < 0 || now_s - year_checked_at_s_ >= 60 || now_s < year_checked_at_s_) {
    const std::time_t t = static_cast<std::time_t>(now_s);
    std::tm tm{};
    localtime_r(&t, &tm);
    year_ = tm.tm_year + 1900;
    month_now_ = tm.tm_mon + 1;
    year_checked_at_s_ = now_s;
  }
  const int year = month - month_now_ > 1 ? year_ - 1 : year_;
  if (day > daysInMonth(year, month)) return 0;
  const std::int64_t key = ((static_cast<std::int64_t>(year) * 13 + month) * 32 + day) * 24 + hour;
  if (key != hour_key_) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) return 0;
    hour_key_ = key;
    hour_start_s_ = t;
  }
  return (hour_start_s_ + minute * 60 + second) * kNsPerSecond;
}

const char* parseSyslog(std::string_view s, SyslogMessage& out, LocalTime& local,
                        std::int64_t now_ns) {
  out = SyslogMessage{};
  if (!s.empty() && s[0] == '<') {
    std::size_t i = 1;
    int pri = 0;
    while (i < s.size() && i <= 3 && isDigit(s[i]))
      pri = pri * 10 + (s[i++] - '0');
    if (i == 1 || i >= s.size() || s[i] != '>' || pri > 191) return "bad PRI";
    out.facility = pri >> 3;
    out.severity = pri & 7;
    s.remove_prefix(i + 1);
    // "1 " (VERSION SP) says RFC 5424; anything else is the older format.
    if (s.size() >= 2 && s[0] >= '1' && s[0] <= '9' &&
        (s[1] == ' ' || (s.size() >= 3 && isDigit(s[1]) && s[2] == ' '))) {
      s.remove_prefix(s[1] == ' ' ? 2 : 3);
      return parse5424(s, out);
    }
  }
  return parse3164(s, out, local, now_ns);
}

}  // namespace reporthub::inputs::ds_receive
