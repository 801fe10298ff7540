// The mail message desksend writes for one report and one user (RFC 5322 with MIME
// text/plain, RFC 2047 encoded words for non-ASCII header text, CRLF line ends), and the
// naming rules it shares with the Maildir and SMTP paths. Pure functions: no files, no
// sockets, so every rule is tested by parsing the result back.
#pragma once

#include "common/report.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reporthub::outputs::desksend {

// The address mail for `user` goes to: `user` itself if it holds '@', else user@domain.
std::string mailAddress(std::string_view user, std::string_view domain);

// The bare address of a From value written as "addr" or "Display Name <addr>".
std::string bareAddress(std::string_view from);

// One message, ready to write or send: headers From, To, Date, Message-ID, Subject,
// MIME-Version, Content-Type, Content-Transfer-Encoding, Auto-Submitted, X-Reporthub-*,
// then the body (text, then category, severity, origin, source, time, via, id and attrs).
// The same report and addresses always give the same bytes, so a redelivery writes the
// same message.
std::string formatMessage(const Report& r, std::string_view from, std::string_view to);

// Message-ID derived from the report id, stable across redeliveries and forwarding:
// "<ID@ORIGIN>" with both parts encoded by encodeNamePart.
std::string messageId(const Report& r);

// RFC 5322 date-time in UTC: "Sun, 22 Nov 2026 03:52:44 +0000".
std::string formatDate(std::int64_t ts_ns);

// The subject text before encoding: "[CATEGORY] severity from ORIGIN: first line of text".
std::string subjectText(const Report& r);

// One header field "Name: value\r\n": control characters become spaces, runs of spaces one
// space, lines folded before 78 columns where the value has spaces; a value with non-ASCII
// text, "=?" or a word too long to fold becomes RFC 2047 encoded words (UTF-8, base64).
std::string headerField(std::string_view name, std::string_view value);

// An address header "Name: Display Name <addr>\r\n" or "Name: addr\r\n": the display name
// as atoms, a quoted string, or RFC 2047 encoded words when it is not ASCII; the address
// as written (addresses are checked elsewhere).
std::string addressField(std::string_view name, std::string_view value);

// `text` as valid UTF-8: each byte of an invalid sequence becomes U+FFFD.
std::string sanitizeUtf8(std::string_view text);

// Quoted-printable (RFC 2045) of text whose lines end in CRLF.
std::string quotedPrintable(std::string_view text);

// An injective encoding of a name into letters, digits, '-' and '_' (anything else as
// "=XX"), safe in a Message-ID, a Maildir file name and a delivered-ids key; and back.
std::string encodeNamePart(std::string_view name);
std::optional<std::string> decodeNamePart(std::string_view encoded);

}  // namespace reporthub::outputs::desksend
