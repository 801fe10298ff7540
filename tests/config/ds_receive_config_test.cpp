// Tests of the inputs.ds_receive section (config/inputs.cpp, readDsReceive): a full section
// loads with its values and defaults; each mistake is reported at its FILE:LINE:COL.
#include "config/config.h"

#include "tests/config/problems.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace reporthub;
using namespace reporthub::config;

using reporthub::test::has;
using reporthub::test::listed;
using reporthub::test::loaded;
using reporthub::test::problemsOf;

namespace {}  // namespace

TEST_CASE("ds_receive loads with its values and defaults", "[config][ds_receive]") {
  const Config minimal = loaded(
      "node: alpha\n"
      "inputs:\n"
      "  ds_receive: { listen: \"tcp://127.0.0.1:5514\" }\n");
  REQUIRE(minimal.inputs.ds_receive);
  const DsReceiveInput& m = *minimal.inputs.ds_receive;
  CHECK(m.listen == "tcp://127.0.0.1:5514");
  CHECK(m.udp.empty());
  CHECK(m.max_connections == 256);
  CHECK(m.max_message == 8192);
  CHECK(m.default_category == "SYSLOG");
  CHECK(m.rules.empty());
  CHECK(minimal.hasDs());

  const Config full = loaded(
      "node: alpha\n"
      "inputs:\n"
      "  ds_receive:\n"
      "    listen: \"tcp://0.0.0.0:5514\"\n"
      "    udp: \"udp://127.0.0.1:5514\"\n"
      "    max_connections: 10\n"
      "    max_message: 16KiB\n"
      "    default_category: LOGS\n"
      "    rules:\n"
      "      - { app: sshd, match: 'Failed password', category: AUTH, severity: warning }\n"
      "      - { facility: mail, syslog_severity: err, msgid: Q, category: MAIL }\n");
  const DsReceiveInput& f = *full.inputs.ds_receive;
  CHECK(f.udp == "udp://127.0.0.1:5514");
  CHECK(f.max_connections == 10);
  CHECK(f.max_message == 16 * 1024);
  CHECK(f.default_category == "LOGS");
  REQUIRE(f.rules.size() == 2);
  CHECK(f.rules[0].app == "sshd");
  CHECK(f.rules[0].match == "Failed password");
  CHECK(f.rules[0].severity == Severity::warning);
  CHECK(f.rules[1].facility == 2);
  CHECK(f.rules[1].syslog_severity == 3);
  CHECK(f.rules[1].msgid == "Q");
  CHECK_FALSE(f.rules[1].severity);
}

TEST_CASE("ds_receive mistakes are reported at their line and column", "[config][ds_receive]") {
  struct Bad {
    const char* what;
    std::string section;
    int line, column;
    std::string fragment;
  };
  const std::vector<Bad> cases = {
      {"missing listen", "  ds_receive: { udp: \"udp://127.0.0.1:5514\" }\n", 3, 15,
       "missing required key 'listen'"},
      {"bad udp address",
       "  ds_receive: { listen: \"tcp://127.0.0.1:5514\", udp: \"127.0.0.1\" }\n", 3, 54,
       "expected udp://HOST:PORT, got '127.0.0.1'"},
      {"listen without a port", "  ds_receive:\n    listen: \"tcp://127.0.0.1\"\n", 4, 13,
       "expected tcp://HOST:PORT"},
      {"unknown facility",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    rules:\n"
       "      - { facility: kernel, category: K }\n",
       6, 21, "unknown facility 'kernel'"},
      {"unknown syslog severity",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    rules:\n"
       "      - { syslog_severity: loud, category: K }\n",
       6, 28, "unknown syslog severity 'loud'"},
      {"a rule without a condition",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    rules:\n"
       "      - { category: EVERYTHING }\n",
       6, 9, "no condition"},
      {"an invalid pattern",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    rules:\n"
       "      - { match: 'disk (\\w+', category: DISK }\n",
       6, 18, "missing closing parenthesis"},
      {"a rule without a category",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    rules:\n"
       "      - { app: sshd }\n",
       6, 9, "missing required key 'category'"},
      {"max_message below RFC 5424's minimum",
       "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    max_message: 100\n", 5, 18,
       "must be between 480 bytes"},
      {"an unknown key", "  ds_receive:\n    listen: \"tcp://127.0.0.1:5514\"\n    port: 514\n", 5,
       5, "unknown key 'port'"},
  };
  for (const Bad& c : cases) {
    INFO(c.what);
    const auto problems = problemsOf("node: alpha\ninputs:\n" + c.section);
    INFO("problems:" << listed(problems));
    bool found = false;
    for (const Problem& p : problems) {
      found = found || (p.line == c.line && p.column == c.column &&
                        p.message.find(c.fragment) != std::string::npos);
    }
    CHECK(found);
  }
}
