// Logging setup: every process logs as "[name]" to stderr and, when given, to a shared log
// file, so one grep for a role's name finds its messages from every process.
#pragma once

#include <spdlog/spdlog.h>

#include <filesystem>
#include <string>

namespace reporthub {

// Installs the default logger named `name` (the role: "hub", "local", "hubctl"...).
void setupLogging(const std::string& name, const std::filesystem::path& file = {},
                  bool to_stderr = true);

// Bytes from the outside (a peer's routing id, a category) made safe for one log line:
// non-printable bytes as \xNN, cut at `max` bytes.
std::string printable(std::string_view bytes, std::size_t max = 64);

}  // namespace reporthub
