// Tests of the report encoding of a syslog message (inputs/ds_receive/report_body.h): the
// bytes are exactly what encodeReport() writes for the same report, and decodeReport() reads
// them back.
#include "inputs/ds_receive/report_body.h"

#include "common/report.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::inputs::ds_receive;

TEST_CASE("the encoded body is encodeReport's, field for field", "[ds_receive]") {
  LocalTime local;
  SyslogMessage m;
  const std::string text =
      "<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 42 ID47 [ex@1 a=\"b\"] An event";
  REQUIRE(parseSyslog(text, m, local, nowNs()) == nullptr);
  const std::string id = newReportId();
  BodyFields f;
  f.id = id;
  f.ts_ns = m.ts_ns;
  f.origin = "alpha";
  f.category = "EVENTS";
  f.severity = Severity::warning;
  f.peer = "127.0.0.1:40000";

  ReportBody body;
  const std::string bytes(body.build(f, m));
  const Report expected = toReport(f, m);
  CHECK(bytes == encodeReport(expected));

  Report decoded;
  REQUIRE(decodeReport(bytes, decoded).empty());
  CHECK(decoded == expected);
  CHECK(decoded.source == "ds");
  CHECK(decoded.text == "An event");
  CHECK(decoded.attrs == std::map<std::string, std::string>{{"app", "evntslog"},
                                                            {"facility", "local4"},
                                                            {"host", "mymachine"},
                                                            {"msgid", "ID47"},
                                                            {"peer", "127.0.0.1:40000"},
                                                            {"procid", "42"},
                                                            {"sd", "[ex@1 a=\"b\"]"},
                                                            {"syslog_severity", "notice"}});

  // Nil fields are left out; the buffer is reused without leftovers.
  SyslogMessage nil;
  REQUIRE(parseSyslog("<11>1 - - - - - - x", nil, local, nowNs()) == nullptr);
  Report small;
  REQUIRE(decodeReport(body.build(f, nil), small).empty());
  CHECK(small.attrs == std::map<std::string, std::string>{{"facility", "user"},
                                                          {"peer", "127.0.0.1:40000"},
                                                          {"syslog_severity", "err"}});
}
