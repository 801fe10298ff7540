// A fresh report as an input would make it: a new id, the time now, the fields a test names.
#pragma once

#include "common/report.h"

#include <string>
#include <utility>

namespace reporthub::test {

inline Report newReport(std::string origin, std::string source, std::string category,
                        std::string text) {
  Report r;
  r.id = newReportId();
  r.ts_ns = nowNs();
  r.origin = std::move(origin);
  r.source = std::move(source);
  r.category = std::move(category);
  r.text = std::move(text);
  return r;
}

}  // namespace reporthub::test
