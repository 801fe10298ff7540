// The local output: the operator console. Appends one line per report to the operator log
// (text or JSON lines) and publishes each line for `hubctl console` to follow live.
#pragma once

#include "common/report.h"
#include "common/role.h"

#include <string>

namespace reporthub::outputs::local {

int main(ChildContext& ctx);

// One operator-log line (without the newline) in the configured format.
std::string formatText(const Report& r);
std::string formatJson(const Report& r);

}  // namespace reporthub::outputs::local
