// Tests for config/config.cpp: good files load with their defaults and resolved paths; bad
// files report every problem at the exact line and column an operator would look at.
#include "config/config.h"

#include "tests/config/problems.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <fstream>
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

struct BadCase {
  const char* what;
  std::string yaml;
  int line;
  int column;
  std::string fragment;
};

const std::vector<BadCase> kBadCases = {
    {"unknown top-level key", "node: alpha\nnodez: {}\n", 2, 1,
     "unknown key 'nodez' (known: node, paths,"},
    {"unknown nested key", "node: alpha\noutputs:\n  local: { file: x.log, colour: red }\n", 3, 25,
     "unknown key 'colour' in outputs.local (known: file, format, rotate, restart)"},
    {"wrong type for a section", "node: alpha\nshutdown: [5m]\n", 2, 11,
     "shutdown: expected a mapping, got a sequence"},
    {"wrong type for an integer", "node: alpha\nmax_hops: many\n", 2, 11,
     "max_hops: expected an integer, got 'many'"},
    {"integer out of range", "node: alpha\nmax_hops: 65\n", 2, 11, "out of range (1..64)"},
    {"bad duration", "node: alpha\nshutdown:\n  kill_timeout: 5x\n", 3, 17,
     "bad duration '5x' (use e.g. 500ms, 30s, 5m, 1h)"},
    {"zero duration", "node: alpha\nrestart: { window: 0s }\n", 2, 20,
     "restart.window: must be greater than 0"},
    {"missing node", "# no node here\npaths: { state_dir: var }\n", 2, 1,
     "missing required key 'node'"},
    {"bad node name", "node: al/pha\n", 1, 7, "not a valid node name"},
    {"bad pending value", "node: alpha\nstartup: { pending: keep }\n", 2, 21,
     "startup.pending: bad value 'keep' (valid: replay, discard)"},
    {"bad desk switch", "node: alpha\ndesk:\n  at_start: sometimes\n", 3, 13,
     "bad value 'sometimes' (valid: on, off"},
    {"recipient naming an undefined node",
     "node: alpha\n"
     "nodes:\n"
     "  hq: { address: \"tcp://hq.example.net:7410\" }\n"
     "recipients:\n"
     "  operator: local\n"
     "  far: { node: zz, recipient: operator }\n",
     6, 16, "recipients.far.node: unknown node 'zz' (defined in nodes: hq)"},
    {"recipient naming this node",
     "node: alpha\nrecipients:\n  me: { node: alpha, recipient: x }\n", 3, 15,
     "is this hub's own node"},
    {"category naming an undefined recipient",
     "node: alpha\nrecipients:\n  operator: local\ncategories:\n  DISK: [operator, opz]\n", 5, 20,
     "category 'DISK': unknown recipient 'opz' (defined: operator)"},
    {"ns_receive without listen", "node: alpha\ninputs:\n  ns_receive: {}\n", 3, 15,
     "missing required key 'listen' in inputs.ns_receive"},
    {"unknown input", "node: alpha\ninputs:\n  tail: {}\n", 3, 3,
     "unknown input 'tail' (known: check, logscan, ns_receive, ds_receive, testproc)"},
    {"ds_send with a bad target", "node: alpha\noutputs:\n  ds_send: { target: x }\n", 3, 22,
     "outputs.ds_send.target: expected tcp://HOST:PORT, got 'x'"},
    {"recipient needing an unconfigured output",
     "node: alpha\nrecipients:\n  operator: local\n  ops: { mail: [alice, bob] }\n", 4, 8,
     "recipient 'ops' needs outputs.desksend, which is not configured"},
    {"invalid logscan pattern",
     "node: alpha\ninputs:\n  logscan:\n    files:\n      - path: app.log\n        rules:\n"
     "          - { match: 'disk (\\d+', category: DISK }\n",
     7, 22,
     "inputs.logscan.files[0].rules[0].match: invalid pattern 'disk (\\d+': missing closing "
     "parenthesis at offset 9"},
    {"template group beyond the pattern's groups",
     "node: alpha\ninputs:\n  logscan:\n    files:\n      - path: app.log\n        rules:\n"
     "          - { match: 'disk (\\w+)', category: DISK, text: 'disk {2} failed' }\n",
     7, 58, "rules[0].text: {2} but the pattern has 1 capture group"},
    {"logscan rule without category",
     "node: alpha\ninputs:\n  logscan:\n    files:\n      - path: app.log\n        rules:\n"
     "          - { match: ERROR }\n",
     7, 13, "missing required key 'category' in inputs.logscan.files[0].rules[0]"},
    {"check with two probes",
     "node: alpha\ninputs:\n  check:\n    checks:\n"
     "      - { name: c, category: C, disk: { path: / }, tcp: { host: h, port: 1 } }\n",
     5, 9,
     "inputs.check.checks[0]: needs exactly one of command, disk, file, process, tcp, queue "
     "(has disk, tcp)"},
    {"check timeout longer than every",
     "node: alpha\ninputs:\n  check:\n    checks:\n"
     "      - { name: c, category: C, every: 10s, timeout: 1m, command: [/bin/true] }\n",
     5, 54, "inputs.check.checks[0].timeout: 1m is longer than every (10s)"},
    {"check as an unknown user",
     "node: alpha\ninputs:\n  check:\n    checks:\n"
     "      - { name: c, category: C, command: [/bin/true], user: no-such-user-here }\n",
     5, 61, "no such user 'no-such-user-here'"},
    {"disk check thresholds",
     "node: alpha\ninputs:\n  check:\n    checks:\n"
     "      - { name: c, category: C, disk: { path: /, warn: 120% } }\n",
     5, 56, "bad percentage '120%' (use 0% to 100%)"},
    {"printer without command or spool", "node: alpha\noutputs:\n  printer: { batch: 1m }\n", 3, 12,
     "outputs.printer: needs command (e.g. [lp, -d, ops]) or spool (a directory)"},
    {"smtp without domain for a bare user",
     "node: alpha\noutputs:\n  desksend:\n    smtp: { url: 'smtp://127.0.0.1:2525' }\n"
     "recipients:\n  operator: local\n  ops: { mail: [alice@example.net, bob] }\n",
     7, 36, "recipients.ops.mail[1]: 'bob' is not an address and outputs.desksend.smtp.domain"},
    {"mail user that would leave the Maildir",
     "node: alpha\noutputs:\n  desksend: {}\nrecipients:\n  operator: local\n"
     "  ops: { mail: [..] }\n",
     6, 17, "recipients.ops.mail[0]: '..': a mail user name must not start with '.'"},
    {"smtps with tls never",
     "node: alpha\noutputs:\n  desksend:\n"
     "    smtp: { url: 'smtps://mail:465', domain: d, tls: never }\n",
     4, 54, "'never' contradicts an smtps:// url"},
    {"bad rotate size", "node: alpha\noutputs:\n  local: { rotate: { size: lots } }\n", 3, 28,
     "bad size 'lots' (use e.g. 4096, 64KiB, 10MB, 1GiB)"},
    {"bad recipient kind", "node: alpha\nrecipients:\n  operator: console\n", 3, 13,
     "recipients.operator: bad value 'console' (valid: local, printer"},
    {"testproc missing mode", "node: alpha\ninputs:\n  testproc:\n    - name: t1\n", 4, 7,
     "missing required key 'mode' in inputs.testproc[0]"},
    {"testproc bad mode", "node: alpha\ninputs:\n  testproc:\n    - { name: t1, mode: sulk }\n", 4,
     25, "bad value 'sulk' (valid: healthy, crash, hang, ignore-term, slow-stop, emit)"},
    {"duplicate testproc name",
     "node: alpha\n"
     "inputs:\n"
     "  testproc:\n"
     "    - { name: t1, mode: healthy }\n"
     "    - { name: t1, mode: crash }\n",
     5, 15, "duplicate testproc name 't1' (first at line 4)"},
    {"bad log format", "node: alpha\noutputs:\n  local:\n    format: xml\n", 4, 13,
     "outputs.local.format: bad value 'xml' (valid: text, json)"},
    {"run_dir too long", "node: alpha\npaths:\n  run_dir: /" + std::string(100, 'r') + "\n", 3, 12,
     "is 114 bytes, longer than the 107"},
    {"duplicate key", "node: alpha\nnode: beta\n", 2, 1, "duplicate key 'node' (first at line 1)"},
    {"no default and no local recipient",
     "node: alpha\nrecipients:\n  operator: printer\ncategories:\n  DISK: [operator]\n", 4, 1,
     "no 'default' category and no local recipient to fall back on"},
    {"YAML syntax error", "node: alpha\nrecipients: operator: local\n", 2, 21,
     "YAML syntax error: illegal map value"},
    {"not a mapping at all", "just a sentence\n", 1, 1, "must be a mapping"},
};

const std::string kExample =
    R"(# The default config: `reporthub run -c examples/hub.yaml` from a fresh clone.
# State and sockets go under examples/var and examples/run (ignored by git).
node: alpha
paths:
  state_dir: var
  run_dir: run
shutdown: { kill_timeout: 30s }
startup: { pending: replay }
desk: { at_start: on }
restart: { immediate: 3, window: 10m, then_every: 30m }

outputs:
  local: { file: var/operator.log }

recipients:
  operator: local

categories:
  default: [operator]
)";

}  // namespace

TEST_CASE("each bad config reports its problem at the exact line and column", "[config]") {
  for (const BadCase& c : kBadCases) {
    SECTION(c.what) {
      const auto problems = problemsOf(c.yaml);
      INFO("reported:" << listed(problems));
      REQUIRE_FALSE(problems.empty());
      CHECK(has(problems, c.line, c.column, c.fragment));
    }
  }
}

TEST_CASE("a YAML syntax error is the one problem reported", "[config]") {
  const auto problems = problemsOf("node: alpha\nnodez: {}\nrecipients: [operator\n");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].message.starts_with("YAML syntax error: "));
}

TEST_CASE("every problem in one file is reported, in file order", "[config]") {
  const auto problems = problemsOf(
      "node: alpha\n"
      "shutdown: { kill_timeout: soon }\n"
      "startup: { pending: keep }\n"
      "outputs:\n"
      "  local: { colour: red }\n"
      "inputs:\n"
      "  logscan: {}\n"
      "categories:\n"
      "  DISK: [nobody]\n");
  INFO("reported:" << listed(problems));
  REQUIRE(problems.size() == 5);
  CHECK(has(problems, 2, 27, "bad duration 'soon'"));
  CHECK(has(problems, 3, 21, "bad value 'keep'"));
  CHECK(has(problems, 5, 12, "unknown key 'colour' in outputs.local"));
  CHECK(has(problems, 7, 12, "missing required key 'files' in inputs.logscan"));
  CHECK(has(problems, 9, 10, "unknown recipient 'nobody' (defined: operator)"));
  for (std::size_t i = 1; i < problems.size(); ++i)
    CHECK(problems[i - 1].line <= problems[i].line);
}

TEST_CASE("ConfigError says every problem as FILE:LINE:COL: message", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", "node: alpha\nbogus: 1\nmax_hops: 0\n");
  try {
    load(file);
    FAIL("load accepted a bad file");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    CHECK(what.find(file.string() + ":2:1: unknown key 'bogus'") != std::string::npos);
    CHECK(what.find(file.string() + ":3:11: max_hops: 0 is out of range (1..64)") !=
          std::string::npos);
  }
}

TEST_CASE("a minimal config gets every default", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", "node: alpha\n");
  const Config c = load(file);
  CHECK(c.file == file);
  CHECK(c.node == "alpha");
  CHECK(c.state_dir == dir.path() / "var");
  CHECK(c.run_dir == dir.path() / "run");
  CHECK(c.kill_timeout == std::chrono::minutes(5));
  CHECK(c.pending == Pending::replay);
  CHECK(c.desk_at_start);
  CHECK(c.journal_sync);
  CHECK(c.restart == RestartPolicy{});
  CHECK(c.restart.immediate == 3);
  CHECK(c.restart.window == std::chrono::minutes(10));
  CHECK(c.restart.then_every == std::chrono::minutes(30));
  CHECK(c.max_hops == 8);
  CHECK(c.inputs.testproc.empty());
  CHECK(c.outputs.local.file == dir.path() / "var" / "operator.log");
  CHECK(c.outputs.local.format == LogFormat::text);
  CHECK_FALSE(c.outputs.local.restart.has_value());
  CHECK(c.nodes.empty());
  REQUIRE(c.recipients.size() == 1);
  CHECK(std::holds_alternative<LocalRecipient>(c.recipients.at("operator")));
  CHECK(c.categories == std::map<std::string, std::vector<std::string>>{{"default", {"operator"}}});
  CHECK(c.controlEndpoint() == "ipc://" + (dir.path() / "run" / "control.sock").string());
}

TEST_CASE("relative paths resolve against the config file's directory", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("etc/hub.yaml",
                                  "node: alpha\n"
                                  "paths: { state_dir: ../state/./hub, run_dir: sock/ }\n"
                                  "outputs:\n"
                                  "  local: { file: logs/../op.log, format: json }\n");
  const Config c = load(file);
  CHECK(c.state_dir == dir.path() / "state" / "hub");
  CHECK(c.run_dir == dir.path() / "etc" / "sock");
  CHECK(c.outputs.local.file == dir.path() / "etc" / "op.log");
  CHECK(c.outputs.local.format == LogFormat::json);
  CHECK(c.file.is_absolute());
}

TEST_CASE("absolute paths are kept, normalized", "[config]") {
  TempDir dir;
  const fs::path state = dir.path() / "elsewhere";
  const fs::path file =
      dir.write("hub.yaml", "node: alpha\npaths: { state_dir: '" + state.string() + "/./' }\n");
  CHECK(load(file).state_dir == state);
}

TEST_CASE("scalars and sections are read with their documented spellings", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml",
                                  "node: site-1.a_b\n"
                                  "shutdown: { kill_timeout: 500ms }\n"
                                  "startup: { pending: discard }\n"
                                  "desk: { at_start: off }\n"
                                  "journal: { sync: off }\n"
                                  "restart: { immediate: 0, then_every: 1h }\n"
                                  "max_hops: 64\n"
                                  "nodes:\n"
                                  "  hq: { address: \"tcp://hq.example.net:7410\" }\n");
  const Config c = load(file);
  CHECK(c.node == "site-1.a_b");
  CHECK(c.kill_timeout == std::chrono::milliseconds(500));
  CHECK(c.pending == Pending::discard);
  CHECK_FALSE(c.desk_at_start);
  CHECK_FALSE(c.journal_sync);
  CHECK(c.restart.immediate == 0);
  CHECK(c.restart.window == std::chrono::minutes(10));  // not given: kept
  CHECK(c.restart.then_every == std::chrono::hours(1));
  CHECK(c.max_hops == 64);
  REQUIRE(c.nodes.count("hq") == 1);
  CHECK(c.nodes.at("hq").address == "tcp://hq.example.net:7410");
  CHECK(c.nodes.at("hq").public_key.empty());
}

TEST_CASE("a pinned node key needs this node's own secret key", "[config]") {
  const auto problems = problemsOf(
      "node: alpha\n"
      "nodes:\n"
      "  hq: { address: \"tcp://hq.example.net:7410\", public_key: "
      "\"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\" }\n");
  INFO("reported:" << listed(problems));
  REQUIRE(problems.size() == 1);
  CHECK(has(problems, 2, 1, "outputs.ns_send.secret_key must name this node's key file"));
}

TEST_CASE("desk.at_start takes on/off and true/false", "[config]") {
  TempDir dir;
  for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{
           {"on", true}, {"off", false}, {"true", true}, {"false", false}}) {
    const fs::path file = dir.write("hub.yaml", "node: alpha\ndesk: { at_start: " + text + " }\n");
    CHECK(load(file).desk_at_start == expected);
  }
}

TEST_CASE("testproc entries load, their restart policy starting from the top-level one",
          "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml",
                                  "node: alpha\n"
                                  "restart: { immediate: 5, window: 1m, then_every: 2m }\n"
                                  "inputs:\n"
                                  "  testproc:\n"
                                  "    - name: flaky\n"
                                  "      mode: crash\n"
                                  "      delay: 200ms\n"
                                  "      restart: { window: 30s }\n"
                                  "    - { name: talker, mode: emit, count: 10, category: DISK }\n"
                                  "    - { name: stubborn, mode: ignore-term }\n"
                                  "    - { name: slow, mode: slow-stop }\n");
  const Config c = load(file);
  REQUIRE(c.inputs.testproc.size() == 4);
  const TestProc& flaky = c.inputs.testproc[0];
  CHECK(flaky.name == "flaky");
  CHECK(flaky.mode == TestMode::crash);
  CHECK(flaky.delay == std::chrono::milliseconds(200));
  REQUIRE(flaky.restart.has_value());
  CHECK(*flaky.restart == RestartPolicy{5, std::chrono::seconds(30), std::chrono::minutes(2)});
  const TestProc& talker = c.inputs.testproc[1];
  CHECK(talker.mode == TestMode::emit);
  CHECK(talker.count == 10);
  CHECK(talker.category == "DISK");
  CHECK_FALSE(talker.restart.has_value());
  CHECK(c.inputs.testproc[2].mode == TestMode::ignore_term);
  CHECK(c.inputs.testproc[2].category == "TEST");
  CHECK(c.inputs.testproc[3].mode == TestMode::slow_stop);
}

TEST_CASE("check, logscan, printer and desksend load with their values and defaults", "[config]") {
  TempDir dir;
  const fs::path file = dir.write(
      "hub.yaml",
      "node: alpha\n"
      "inputs:\n"
      "  check:\n"
      "    concurrency: 4\n"
      "    checks:\n"
      "      - { name: root, every: 10s, category: DISK, disk: { path: /, warn: 80%, crit: 90 } }\n"
      "      - name: mailq\n"
      "        command: [/usr/lib/nagios/plugins/check_mailq, -w, '50']\n"
      "        category: MAILQ\n"
      "        desk: true\n"
      "        renotify: 1h\n"
      "      - { name: stamp, category: F, file: { path: stamp, crit_age: 1h, warn_size: 1MB } }\n"
      "      - { name: web, category: W, every: 5s, tcp: { host: 127.0.0.1, port: 80 } }\n"
      "      - { name: spool, category: Q, queue: { path: /var/spool, warn: 10, crit: 20 } }\n"
      "      - { name: cron, category: P, process: { name: cron, min: 1 } }\n"
      "  logscan:\n"
      "    max_line: 4KiB\n"
      "    files:\n"
      "      - path: app.log\n"
      "        start_at: end\n"
      "        rules:\n"
      "          - { match: 'disk (\\w+) failed', category: DISK, severity: critical,\n"
      "              text: 'disk {1} failed', continue: true }\n"
      "          - { match: ERROR, category: APP }\n"
      "outputs:\n"
      "  local: { rotate: { size: 10MiB, keep: 3 } }\n"
      "  printer: { command: [lp, -d, ops], batch: 1m, retry: { first: 200ms, alert_after: 2 } }\n"
      "  desksend:\n"
      "    smtp: { url: 'smtp://127.0.0.1:2525', domain: example.net, tls: never }\n"
      "recipients:\n"
      "  operator: local\n"
      "  printer: printer\n"
      "  ops: { mail: [alice, bob] }\n"
      "categories:\n"
      "  DISK: [operator, printer, ops]\n");
  const Config c = load(file);
  REQUIRE(c.inputs.check);
  const CheckInput& in = *c.inputs.check;
  CHECK(in.concurrency == 4);
  REQUIRE(in.checks.size() == 6);
  const auto& root = in.checks[0];
  CHECK(root.every == std::chrono::seconds(10));
  CHECK(root.timeout == std::chrono::seconds(10));  // never longer than every
  CHECK(std::get<DiskCheck>(root.probe) == DiskCheck{"/", 80, 90});
  const auto& mailq = in.checks[1];
  CHECK(std::get<CommandCheck>(mailq.probe).argv.size() == 3);
  CHECK(mailq.timeout == std::chrono::seconds(30));
  CHECK(mailq.desk);
  CHECK(mailq.renotify == std::chrono::hours(1));
  const auto& stamp = std::get<FileCheck>(in.checks[2].probe);
  CHECK(stamp.path == dir.path() / "stamp");
  CHECK(stamp.crit_age == std::chrono::hours(1));
  CHECK_FALSE(stamp.warn_age);
  CHECK(stamp.warn_size == 1000000u);
  CHECK(std::get<TcpCheck>(in.checks[3].probe) == TcpCheck{"127.0.0.1", 80});
  CHECK(std::get<QueueCheck>(in.checks[4].probe).crit == 20u);
  CHECK(std::get<ProcessCheck>(in.checks[5].probe).name == "cron");

  REQUIRE(c.inputs.logscan);
  CHECK(c.inputs.logscan->max_line == 4096u);
  REQUIRE(c.inputs.logscan->files.size() == 1);
  const LogFile& f = c.inputs.logscan->files[0];
  CHECK(f.path == dir.path() / "app.log");
  CHECK(f.start_at == StartAt::end);
  REQUIRE(f.rules.size() == 2);
  CHECK(f.rules[0] ==
        LogRule{"disk (\\w+) failed", "DISK", Severity::critical, "disk {1} failed", true});
  CHECK(f.rules[1] == LogRule{"ERROR", "APP", Severity::warning, "", false});

  CHECK(c.outputs.local.rotate_size == 10u << 20);
  CHECK(c.outputs.local.rotate_keep == 3);
  REQUIRE(c.outputs.printer);
  CHECK(c.outputs.printer->command == std::vector<std::string>{"lp", "-d", "ops"});
  CHECK(c.outputs.printer->batch == std::chrono::minutes(1));
  CHECK(c.outputs.printer->retry.first == std::chrono::milliseconds(200));
  CHECK(c.outputs.printer->retry.max == std::chrono::seconds(60));
  CHECK(c.outputs.printer->retry.alert_after == 2);
  REQUIRE(c.outputs.desksend);
  CHECK(c.outputs.desksend->maildir == dir.path() / "var/mail");
  CHECK(c.outputs.desksend->from == "reporthub@alpha");
  REQUIRE(c.outputs.desksend->smtp);
  CHECK(c.outputs.desksend->smtp->from == "reporthub@alpha");
  CHECK(c.outputs.desksend->smtp->tls == SmtpSettings::Tls::never);
}

TEST_CASE("without a default category, every local recipient is the default", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml",
                                  "node: alpha\n"
                                  "recipients:\n"
                                  "  zed: local\n"
                                  "  able: local\n"
                                  "categories:\n"
                                  "  DISK: [zed]\n");
  const Config c = load(file);
  CHECK(c.categories.at("DISK") == std::vector<std::string>{"zed"});
  CHECK(c.categories.at("default") == std::vector<std::string>{"zed", "able"});  // config order
}

TEST_CASE("an explicit default category is kept as written", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml",
                                  "node: alpha\n"
                                  "recipients: { a: local, b: local }\n"
                                  "categories: { default: [b] }\n");
  CHECK(load(file).categories.at("default") == std::vector<std::string>{"b"});
}

TEST_CASE("without recipients, the implicit operator can be named by categories", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", "node: alpha\ncategories:\n  DISK: [operator]\n");
  const Config c = load(file);
  CHECK(std::holds_alternative<LocalRecipient>(c.recipients.at("operator")));
  CHECK(c.categories.at("DISK") == std::vector<std::string>{"operator"});
  CHECK(c.categories.at("default") == std::vector<std::string>{"operator"});
}

TEST_CASE("the shipped example config loads", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", kExample);
  const Config c = load(file);
  CHECK(c.node == "alpha");
  CHECK(c.state_dir == dir.path() / "var");
  CHECK(c.run_dir == dir.path() / "run");
  CHECK(c.kill_timeout == std::chrono::seconds(30));
  CHECK(c.desk_at_start);
  CHECK(c.outputs.local.file == dir.path() / "var" / "operator.log");
  CHECK(c.categories.at("default") == std::vector<std::string>{"operator"});
  CHECK(c.lockPath() == dir.path() / "var" / "hub.lock");
}

TEST_CASE("loadFromString gives what load gives", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", kExample);
  const Config a = load(file);
  const Config b = loadFromString(kExample, file);
  CHECK(a.file == b.file);
  CHECK(a.state_dir == b.state_dir);
  CHECK(a.outputs == b.outputs);
  CHECK(a.recipients == b.recipients);
  CHECK(a.categories == b.categories);
}

TEST_CASE("locate reads paths strictly and the rest leniently", "[config]") {
  const fs::path file = "/etc/reporthub/hub.yaml";
  CHECK(locate("node: alpha\n", file).state_dir == "/etc/reporthub/var");
  CHECK(locate("node: alpha\n", file).run_dir == "/etc/reporthub/run");
  CHECK(locate("node: alpha\n", file).node == "alpha");
  CHECK(locate("paths: { state_dir: ../lib/hub/ }\n", file).state_dir == "/etc/lib/hub");
  CHECK(locate("paths: { state_dir: /var/lib/hub, run_dir: /run/rh }\n", file).run_dir ==
        "/run/rh");
  // Other problems wait for the full load, after the lock is held; a client still finds
  // the hub while the rest of the file is being edited.
  const auto loc = locate(
      "bogus: 1\nnode: [a]\nshutdown: { kill_timeout: 2s }\npaths: { state_dir: s }\n", file);
  CHECK(loc.state_dir == "/etc/reporthub/s");
  CHECK(loc.node.empty());
  CHECK(loc.kill_timeout == std::chrono::seconds(2));
  CHECK(locate("shutdown: { kill_timeout: soon }\n", file).kill_timeout == std::chrono::minutes(5));
  CHECK(locate("", file).state_dir == "/etc/reporthub/var");
}

TEST_CASE("locate refuses what it cannot read", "[config]") {
  const fs::path file = "/etc/reporthub/hub.yaml";
  CHECK_THROWS_AS(locate("paths: [oops\n", file), ConfigError);
  CHECK_THROWS_AS(locate("paths: [var]\n", file), ConfigError);
  CHECK_THROWS_AS(locate("paths: { run_dir: [x] }\n", file), ConfigError);
  try {
    locate("paths:\n  state_dir: { a: b }\n", file);
    FAIL("accepted a mapping as state_dir");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].str() ==
          "/etc/reporthub/hub.yaml:2:14: paths.state_dir: expected a string, got a mapping");
  }
}

TEST_CASE("readFile reads a file and reports one it cannot read without a line", "[config]") {
  TempDir dir;
  const fs::path file = dir.write("hub.yaml", "node: alpha\n");
  CHECK(readFile(file) == "node: alpha\n");
  const fs::path missing = dir.path() / "missing.yaml";
  try {
    readFile(missing);
    FAIL("read a missing file");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].line == 0);
    CHECK(e.problems()[0].str() == missing.string() + ": cannot read: No such file or directory");
  }
  CHECK_THROWS_AS(load(missing), ConfigError);
}

TEST_CASE("Problem::str formats with and without a position", "[config]") {
  CHECK(Problem{"hub.yaml", 3, 7, "bad"}.str() == "hub.yaml:3:7: bad");
  CHECK(Problem{"hub.yaml", 0, 0, "cannot read: x"}.str() == "hub.yaml: cannot read: x");
}

TEST_CASE("mail user names are checked before they name a directory", "[config]") {
  for (const char* ok : {"alice", "bob.smith", "ops+disk", "carol@example.net", "x_y-z"})
    CHECK(mailUserProblem(ok).empty());
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "../etc", "a b", "a@b@c", "@x", "x@",
                          "tab\t", "new\nline", "quote\"", "é"}) {
    INFO(bad);
    CHECK_FALSE(mailUserProblem(bad).empty());
  }
  CHECK_FALSE(mailUserProblem(std::string(256, 'a')).empty());
  CHECK(mailUserProblem(std::string(255, 'a')).empty());
}
