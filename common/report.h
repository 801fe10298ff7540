// The report: the one value that flows from inputs through the hub to outputs and remote
// nodes. Its msgpack encoding is the message body on every socket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub {

enum class Severity : std::uint8_t { info = 0, warning = 1, error = 2, critical = 3 };

std::optional<Severity> parseSeverity(std::string_view text);
std::string_view toString(Severity s);

struct Report {
  std::string id;          // unique, stable across forwarding (UUIDv7 text)
  std::int64_t ts_ns = 0;  // wall-clock time of the event, ns since the epoch
  std::string origin;      // node that created the report
  std::string source;      // check, logscan, jcl, ns, ds, ...
  std::string category;
  Severity severity = Severity::info;
  std::string text;
  std::map<std::string, std::string> attrs;
  std::vector<std::string> via;  // nodes the report passed through, in order

  bool operator==(const Report&) const = default;
};

// A decoded report whose strings point into its encoded bytes (valid while they are): for
// the hot path of an output that reads each report once, without copying its fields.
struct ReportView {
  std::string_view id;
  std::int64_t ts_ns = 0;
  std::string_view origin, source, category;
  Severity severity = Severity::info;
  std::string_view text;
  // In key order, each key once (as in Report's map: a later duplicate wins).
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  std::vector<std::string_view> via;
};

// A view of a report's own fields.
ReportView viewOf(const Report& r);

// A new time-ordered unique id (UUIDv7 in its 36-character text form).
std::string newReportId();
// The same, for a report made at `now_ns`, written into `out` (its capacity reused): for
// inputs that read the clock for the report anyway.
void newReportId(std::int64_t now_ns, std::string& out);

// Ids from other sources may differ in form, but must be 1-128 printable ASCII characters
// without space, quote, backslash or brackets: they end every operator-log line and are
// read back from there to suppress duplicates.
bool validReportId(std::string_view id);

// Wall-clock now in ns since the epoch.
std::int64_t nowNs();

// Limits applied to every decoded report; anything beyond is refused, not truncated.
struct ReportLimits {
  std::size_t max_bytes = 64 * 1024;
  std::size_t max_field = 16 * 1024;  // one string field (text may use max_bytes)
  std::size_t max_attrs = 64;
  std::size_t max_via = 64;
};

// Encodes as a msgpack array (not a string-keyed map: half the decode cost).
std::string encodeReport(const Report& r);

// Decodes one report that must fill `bytes` exactly. Returns an empty string on success,
// else the reason the bytes were refused. Never throws. `out`'s strings and vectors keep
// their capacity from one report to the next.
std::string decodeReport(std::string_view bytes, ReportView& out, const ReportLimits& limits = {});
std::string decodeReport(std::string_view bytes, Report& out, const ReportLimits& limits = {});
// Copies a view's fields into `out`, reusing its strings and, when the attribute keys are
// the same as before, its attribute nodes.
void assign(Report& out, const ReportView& v);

}  // namespace reporthub
