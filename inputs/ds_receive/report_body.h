// The encoded report of one syslog message, built straight from the parser's views into a
// buffer reused for every message: the same bytes encodeReport() writes for the equivalent
// Report, without making that Report (a dozen allocations) on the hot path.
#pragma once

#include "common/report.h"
#include "inputs/ds_receive/parser.h"

#include <msgpack.hpp>

#include <string_view>

namespace reporthub::inputs::ds_receive {

struct BodyFields {
  std::string_view id;
  std::int64_t ts_ns = 0;
  std::string_view origin;
  std::string_view category;
  Severity severity = Severity::info;
  std::string_view peer;  // the sender's address, "ADDR:PORT"
};

class ReportBody {
 public:
  // source "ds", text MSG, attrs app, facility, host, msgid, peer, procid, sd and
  // syslog_severity (the empty ones left out). Valid until the next build().
  std::string_view build(const BodyFields& f, const SyslogMessage& m);

 private:
  msgpack::sbuffer buf_{1024};
};

// The Report that build() encodes, for tests and for code off the hot path.
Report toReport(const BodyFields& f, const SyslogMessage& m);

}  // namespace reporthub::inputs::ds_receive
