// The printer output: formats a page per report and hands each job (one report, or every
// report of a batch interval) to a print command's stdin (`lp -d ops`) or writes it into a
// spool directory. A job that fails is retried by the hub; the reports wait in its journal.
#pragma once

#include "common/report.h"
#include "common/role.h"

#include <string>

namespace reporthub::outputs::printer {

int main(ChildContext& ctx);

// One printed page for a report: a header (node, time, category, severity, id), the text,
// the attrs. Pages of a job are separated by a form feed.
std::string formatPage(const Report& r);

}  // namespace reporthub::outputs::printer
