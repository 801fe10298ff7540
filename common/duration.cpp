// Duration parsing and formatting; see duration.h.
#include "common/duration.h"

#include <charconv>
#include <cstdint>

namespace reporthub {

std::optional<Duration> parseDuration(std::string_view text) {
  if (text.starts_with('-')) return std::nullopt;  // also "-0s", which from_chars reads as 0
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() || value < 0) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  std::int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else
    return std::nullopt;
  if (value > INT64_MAX / scale) return std::nullopt;
  return Duration(value * scale);
}

std::string formatDuration(Duration d) {
  const std::int64_t ms = d.count();
  struct Unit {
    std::int64_t scale;
    const char* name;
  };
  for (Unit u : {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"}, Unit{1000, "s"}}) {
    if (ms != 0 && ms % u.scale == 0) return std::to_string(ms / u.scale) + u.name;
  }
  return std::to_string(ms) + "ms";
}

}  // namespace reporthub
