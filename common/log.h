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

}  // namespace reporthub
