// The outputs.ds_send section and the ds_send recipient kind: defaults, facility names and
// numbers, and every problem at the line and column an operator would look at.
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

namespace {

using reporthub::test::TempDir;

const std::string kRouted =
    "recipients:\n"
    "  operator: local\n"
    "  syslog: ds_send\n"
    "categories:\n"
    "  DISK: [operator, syslog]\n"
    "  default: [operator]\n";

}  // namespace

TEST_CASE("ds_send defaults: local0, app name reporthub, 10s timeout", "[config][ds_send]") {
  const Config cfg =
      loaded("node: alpha\noutputs:\n  ds_send: { target: \"tcp://127.0.0.1:514\" }\n" + kRouted);
  REQUIRE(cfg.outputs.ds_send);
  const DsSendOutput& d = *cfg.outputs.ds_send;
  CHECK(d.target == "tcp://127.0.0.1:514");
  CHECK(d.facility == 16);
  CHECK(d.app_name == "reporthub");
  CHECK(d.timeout == std::chrono::seconds(10));
  CHECK(d.retry == RetryPolicy{});
  CHECK_FALSE(d.restart);
  CHECK(std::holds_alternative<DsSendRecipient>(cfg.recipients.at("syslog")));
  CHECK(cfg.hasDs());
}

TEST_CASE("ds_send takes a facility by name or by number, and its own settings",
          "[config][ds_send]") {
  const Config cfg = loaded(
      "node: alpha\n"
      "outputs:\n"
      "  ds_send:\n"
      "    target: \"tcp://syslog.example.net:6514\"\n"
      "    facility: daemon\n"
      "    app_name: hub-alpha\n"
      "    timeout: 3s\n"
      "    retry: { first: 100ms, max: 2s, alert_after: 5 }\n"
      "    restart: { immediate: 1 }\n" +
      kRouted);
  const DsSendOutput& d = *cfg.outputs.ds_send;
  CHECK(d.facility == 3);
  CHECK(d.app_name == "hub-alpha");
  CHECK(d.timeout == std::chrono::seconds(3));
  CHECK(d.retry.first == std::chrono::milliseconds(100));
  CHECK(d.retry.alert_after == 5);
  REQUIRE(d.restart);
  CHECK(d.restart->immediate == 1);
  CHECK(loaded("node: alpha\noutputs:\n  ds_send: { target: \"tcp://h:1\", facility: 23 }\n")
            .outputs.ds_send->facility == 23);
}

TEST_CASE("bad ds_send settings are reported where they are written", "[config][ds_send]") {
  struct Case {
    const char* what;
    std::string yaml;
    int line, column;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"no target", "node: alpha\noutputs:\n  ds_send: { facility: user }\n", 3, 12,
       "missing required key 'target' in outputs.ds_send"},
      {"target without scheme", "node: alpha\noutputs:\n  ds_send: { target: \"127.0.0.1:514\" }\n",
       3, 22, "outputs.ds_send.target: expected tcp://HOST:PORT, got '127.0.0.1:514'"},
      {"udp target", "node: alpha\noutputs:\n  ds_send:\n    target: \"udp://127.0.0.1:514\"\n", 4,
       13, "outputs.ds_send.target: expected tcp://HOST:PORT"},
      {"target without port", "node: alpha\noutputs:\n  ds_send:\n    target: tcp://loghost\n", 4,
       13, "expected tcp://HOST:PORT, got 'tcp://loghost'"},
      {"port out of range", "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:65536\n", 4, 13,
       "expected tcp://HOST:PORT"},
      {"unknown facility",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    facility: local8\n", 5, 15,
       "outputs.ds_send.facility: unknown facility 'local8' (kern, user"},
      {"facility number too large",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    facility: 24\n", 5, 15,
       "unknown facility '24'"},
      {"app_name with a space",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    app_name: report hub\n", 5,
       15, "outputs.ds_send.app_name: 1-48 printable ASCII characters without spaces"},
      {"app_name too long",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    app_name: " +
           std::string(49, 'a') + "\n",
       5, 15, "outputs.ds_send.app_name: 1-48 printable ASCII"},
      {"app_name not ASCII",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    app_name: bericht-ü\n", 5,
       15, "1-48 printable ASCII"},
      {"zero timeout",
       "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    timeout: 0s\n", 5, 14,
       "outputs.ds_send.timeout: must be greater than 0"},
      {"unknown key", "node: alpha\noutputs:\n  ds_send:\n    target: tcp://h:514\n    port: 514\n",
       5, 5, "unknown key 'port' in outputs.ds_send"},
      {"ds_send recipient without outputs.ds_send",
       "node: alpha\nrecipients:\n  operator: local\n  syslog: ds_send\n", 4, 11,
       "recipient 'syslog' needs outputs.ds_send, which is not configured"},
  };
  for (const Case& c : cases) {
    SECTION(c.what) {
      const auto problems = problemsOf(c.yaml);
      INFO("reported:" << listed(problems));
      REQUIRE_FALSE(problems.empty());
      CHECK(has(problems, c.line, c.column, c.fragment));
    }
  }
}
