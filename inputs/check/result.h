// What one run of a check found: its state, one line of text, and the performance data an
// operator's graphs take. Probes (plugin.h, builtin.h) produce it; the runner reports it.
#pragma once

#include "inputs/check/state.h"

#include <optional>
#include <string>

namespace reporthub::inputs::check {

struct Result {
  State state = State::unknown;
  std::string text;                // one line, without the state word
  std::string perfdata;            // "label=value;warn;crit;min;max ...", "" if none
  std::optional<int> exit_status;  // command checks that exited: their exit code
};

}  // namespace reporthub::inputs::check
