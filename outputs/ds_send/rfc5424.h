// A report as an RFC 5424 syslog message, framed by octet counting (RFC 6587 §3.4.1) for
// TCP. No sockets here: ds_send hands the bytes to its connection, and the unit tests read
// them. What does not fit the RFC is repaired, cut or dropped, and said in FormatNotes, so
// no report can break the frame or the structured data.
#pragma once

#include "common/report.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace reporthub::outputs::ds_send {

// The SD-ID of ds_send's structured-data element. 32473 is the enterprise number RFC 5612
// sets aside for examples and documentation, as RFC 5424's own examples use it.
constexpr std::string_view kSdId = "reporthub@32473";

struct FormatOptions {
  int facility = 16;  // local0
  std::string app_name = "reporthub";
  // Longest message (without the frame's length prefix). rsyslog's default maxMessageSize;
  // a longer frame would be cut or split by the receiver, so the text is cut here instead.
  std::size_t max_message = 8192;
};

// What a message lost or had repaired on the way out.
struct FormatNotes {
  std::size_t bad_attr_names = 0;  // attrs whose names are no SD-NAME: left out
  std::size_t attrs_left_out = 0;  // attrs that did not fit into max_message: left out
  std::size_t utf8_replaced = 0;   // invalid UTF-8 sequences replaced by U+FFFD
  bool truncated = false;          // a field, value or the text was cut to its limit
};

// RFC 5424 field limits (§6).
constexpr std::size_t kMaxHostname = 255;
constexpr std::size_t kMaxAppName = 48;
constexpr std::size_t kMaxMsgId = 32;
constexpr std::size_t kMaxSdName = 32;
// ds_send's own limit on one PARAM-VALUE (escaped), so a few huge attrs leave room for the
// others and for the text.
constexpr std::size_t kMaxParamValue = 1024;

// Whether `s` can be an SD-NAME (attr names) or a MSGID (categories): 1-32 printable
// US-ASCII characters; SD-NAMEs also without '=', ']' and '"'.
bool validSdName(std::string_view s);
bool validMsgId(std::string_view s);

// "<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [reporthub@32473 id=.. category=.. source=..
// via=.. ATTRS...] BOM TEXT": PRI from the options' facility and the report's severity;
// the report's time in UTC with microseconds; its origin as HOSTNAME; its category as MSGID
// when it is one (else "-"; the category is always in the structured data).
std::string formatMessage(const Report& r, const FormatOptions& o, FormatNotes& notes);

// Appends "LEN SP MSG" (RFC 6587 octet counting) to `out`.
void appendFrame(std::string& out, std::string_view message);

}  // namespace reporthub::outputs::ds_send
