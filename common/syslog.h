// Syslog's numbers and names (RFC 5424 §6.2.1): facilities 0-23 and severities 0-7, as the
// config writes them and as ds_receive and ds_send put them on the wire.
#pragma once

#include "common/report.h"

#include <optional>
#include <string_view>

namespace reporthub::syslog {

constexpr int kMaxFacility = 23;
constexpr int kMaxSeverity = 7;  // debug; 0 is emerg, the most severe

// "kern", "user", ..., "local7", or a number 0-23.
std::optional<int> parseFacility(std::string_view text);
std::string_view facilityName(int facility);

// "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" (and the aliases
// "emergency", "panic", "critical", "error", "warn"), or a number 0-7.
std::optional<int> parseSeverity(std::string_view text);
std::string_view severityName(int severity);

// A report's severity for a syslog severity, and back.
Severity toReport(int syslog_severity);
int fromReport(Severity severity);

}  // namespace reporthub::syslog
