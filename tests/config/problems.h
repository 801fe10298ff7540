// Loading config text in tests: the problems a file yields, and checks on them. Shared by
// the config test files so each section's tests read the same way.
#pragma once

#include "config/config.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace reporthub::test {

// Loads `yaml` from a file and returns the problems reported (empty if it loaded).
inline std::vector<config::Problem> problemsOf(const std::string& yaml) {
  TempDir dir;
  const std::filesystem::path file = dir.write("hub.yaml", yaml);
  try {
    config::load(file);
  } catch (const config::ConfigError& e) {
    for (const config::Problem& p : e.problems())
      CHECK(p.file == file.string());
    return e.problems();
  }
  return {};
}

// Loads `yaml`, which must be valid.
inline config::Config loaded(const std::string& yaml) {
  TempDir dir;
  return config::load(dir.write("hub.yaml", yaml));
}

// The problems as lines, for a test's INFO.
inline std::string listed(const std::vector<config::Problem>& problems) {
  std::string out;
  for (const config::Problem& p : problems)
    out += "\n  " + p.str();
  return out;
}

// Whether a problem at LINE:COL says `text`.
inline bool has(const std::vector<config::Problem>& problems, int line, int column,
                const std::string& text) {
  for (const config::Problem& p : problems) {
    if (p.line == line && p.column == column && p.message.find(text) != std::string::npos)
      return true;
  }
  return false;
}

}  // namespace reporthub::test
