// Parsing one syslog message, without sockets: RFC 5424, and RFC 3164 as real senders write
// it (with or without HOST, with rsyslog's RFC 3339 timestamp, without PRI). Every field is
// a view into the message, so parsing allocates nothing.
#pragma once

#include <cstdint>
#include <string_view>

namespace reporthub::inputs::ds_receive {

struct SyslogMessage {
  enum class Format { rfc5424, rfc3164 };
  Format format = Format::rfc3164;
  int facility = 1;        // user, RFC 3164's default for a message without PRI
  int severity = 5;        // notice
  std::int64_t ts_ns = 0;  // the message's timestamp, ns since the epoch; 0 if it had none
  std::string_view host, app, procid, msgid;  // empty when absent or nil ('-')
  std::string_view sd;                        // raw STRUCTURED-DATA, empty when nil
  std::string_view msg;                       // without a UTF-8 BOM
};

// The local time zone, for RFC 3164 timestamps that carry neither year nor zone; conversions
// are cached per hour, so parsing does not call mktime for every message.
class LocalTime {
 public:
  // ns since the epoch of a local date and time; the year is `now`'s, or the previous one if
  // that would put the date more than a month in the future (December's messages read in
  // January). 0 if the date does not exist.
  std::int64_t toNs(int month, int day, int hour, int minute, int second, std::int64_t now_ns);

 private:
  std::int64_t hour_key_ = -1;
  std::int64_t hour_start_s_ = 0;
  std::int64_t year_checked_at_s_ = -1;
  int year_ = 1970;
  int month_now_ = 1;
};

// Parses `in` into `out` (views into `in`). Returns nullptr, or why the message is refused.
// `now_ns` and `local` give RFC 3164 timestamps their year and zone.
const char* parseSyslog(std::string_view in, SyslogMessage& out, LocalTime& local,
                        std::int64_t now_ns);

// An RFC 3339 timestamp as RFC 5424 writes it ("2026-11-22T08:08:51.397110+00:00", "...Z",
// up to 9 fraction digits) into ns since the epoch. False if `text` is not one.
bool parseRfc3339(std::string_view text, std::int64_t& ns);

}  // namespace reporthub::inputs::ds_receive
