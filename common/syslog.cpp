// Syslog names; see syslog.h.
#include "common/syslog.h"

#include <charconv>

namespace reporthub::syslog {

namespace {

constexpr std::string_view kFacilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};
constexpr std::string_view kSeverities[] = {"emerg",   "alert",  "crit", "err",
                                            "warning", "notice", "info", "debug"};
constexpr std::pair<std::string_view, int> kSeverityAliases[] = {
    {"emergency", 0}, {"panic", 0}, {"critical", 2}, {"error", 3}, {"warn", 4}};

std::optional<int> number(std::string_view text, int max) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || n < 0 || n > max)
    return std::nullopt;
  return n;
}

}  // namespace

std::optional<int> parseFacility(std::string_view text) {
  for (int i = 0; i <= kMaxFacility; ++i) {
    if (kFacilities[i] == text) return i;
  }
  return number(text, kMaxFacility);
}

std::string_view facilityName(int facility) {
  return facility >= 0 && facility <= kMaxFacility ? kFacilities[facility] : "?";
}

std::optional<int> parseSeverity(std::string_view text) {
  for (int i = 0; i <= kMaxSeverity; ++i) {
    if (kSeverities[i] == text) return i;
  }
  for (const auto& [name, n] : kSeverityAliases) {
    if (name == text) return n;
  }
  return number(text, kMaxSeverity);
}

std::string_view severityName(int severity) {
  return severity >= 0 && severity <= kMaxSeverity ? kSeverities[severity] : "?";
}

Severity toReport(int s) {
  if (s <= 2) return Severity::critical;  // emerg, alert, crit
  if (s == 3) return Severity::error;
  if (s == 4) return Severity::warning;
  return Severity::info;  // notice, info, debug
}

int fromReport(Severity severity) {
  switch (severity) {
    case Severity::critical:
      return 2;
    case Severity::error:
      return 3;
    case Severity::warning:
      return 4;
    case Severity::info:
      break;
  }
  return 6;
}

}  // namespace reporthub::syslog
