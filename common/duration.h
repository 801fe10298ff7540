// Durations as written in the config ("500ms", "30s", "5m", "1h") and as shown to operators.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace reporthub {

using Duration = std::chrono::milliseconds;

// Parses "<integer><unit>" with unit ms, s, m, h or d. Returns nullopt on anything else:
// a bare number is refused because "30" could mean seconds or minutes.
std::optional<Duration> parseDuration(std::string_view text);

// The shortest exact spelling: 90000ms -> "90s", 300000ms -> "5m".
std::string formatDuration(Duration d);

}  // namespace reporthub
