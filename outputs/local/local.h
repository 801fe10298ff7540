// The local output: the operator console. Appends one line per report to the operator log
// (text or JSON lines) and publishes each line for `hubctl console` to follow live. Each
// line carries the report id, which is how a redelivery after a crash is recognised.
#pragma once

#include "common/report.h"
#include "common/role.h"

#include <string>

namespace reporthub::outputs::local {

int main(ChildContext& ctx);

// One operator-log line (without the newline) in the configured format.
std::string formatText(const Report& r);
void appendText(std::string& out, const Report& r);  // formatText, appended in place
void appendText(std::string& out, const ReportView& r);
std::string formatJson(const Report& r);

// The report id a line in either format carries, or "" if none.
std::string idOfLine(std::string_view line);

}  // namespace reporthub::outputs::local
