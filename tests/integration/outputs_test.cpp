// Integration tests across the outputs: one report routed to the operator, the printer and a
// mail recipient reaches each once, and a printer killed mid-stream prints every report
// without losing one.
#include "tests/support/harness.h"
#include "tests/support/mail_parse.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <map>
#include <string>

namespace fs = std::filesystem;
using namespace reporthub::test;

namespace {

}  // namespace

TEST_CASE("a report for operator, printer and ops reaches each once", "[outputs][integration]") {
  Hub hub(
      "outputs:\n"
      "  printer: { command: [sh, -c, 'cat >> printed'] }\n"
      "  desksend: { maildir: var/mail }\n"
      "recipients:\n"
      "  operator: local\n"
      "  printer: printer\n"
      "  ops: { mail: [alice, bob] }\n"
      "categories:\n"
      "  DISK: [operator, printer, ops]\n"
      "  default: [operator]\n");
  hub.start();
  const auto r = hub.hubctl({"report", "-C", "DISK", "-s", "critical", "disk sda failed"});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  const fs::path mail = hub.dir() / "var/mail";
  REQUIRE(waitFor([&] {
    return hub.status()["counters"]["delivered"] == 3 && filesIn(mail / "alice/new").size() == 1 &&
           filesIn(mail / "bob/new").size() == 1;
  }));
  REQUIRE(hub.stop() == 0);

  CHECK(countOf(readFile(hub.operatorLog()), "[" + id + "]") == 1);
  const std::string printed = readFile(hub.dir() / "printed");
  CHECK(countOf(printed, "Report:   " + id) == 1);
  CHECK(countOf(printed, "disk sda failed") == 1);
  for (const char* user : {"alice", "bob"}) {
    INFO(user);
    const auto files = filesIn(mail / user / "new");
    REQUIRE(files.size() == 1);
    const auto m = parseMail(readFile(files[0]));
    REQUIRE(m.is_object());
    CHECK(m["defects"].empty());
    CHECK(header(m, "message-id") == "<" + id + "@alpha>");
    CHECK(header(m, "subject").find("[DISK] critical from alpha") != std::string::npos);
    CHECK(m["body"].get<std::string>().starts_with("disk sda failed\n"));
  }
}

TEST_CASE("a printer killed mid-stream prints every report, repeating none",
          "[outputs][printer][integration]") {
  constexpr int kReports = 300;
  Hub hub(
      "outputs:\n"
      "  printer: { command: [sh, -c, 'cat >> printed'] }\n"
      "inputs:\n"
      "  testproc:\n"
      "    - { name: load, mode: emit, count: " +
      std::to_string(kReports) +
      ", category: PRINTME }\n"
      "recipients:\n"
      "  operator: local\n"
      "  printer: printer\n"
      "categories:\n"
      "  PRINTME: [printer]\n"
      "  default: [operator]\n"
      "restart: { immediate: 100, window: 10m, then_every: 1m }\n");
  hub.start();
  const fs::path printed = hub.dir() / "printed";
  // Kill the printer twice while it works through the reports, each time after it has
  // printed some more.
  for (int kill = 1; kill <= 2; ++kill) {
    REQUIRE(waitFor([&] { return countOf(readFile(printed), "Report:") >= kill * 50u; }, 20s));
    const auto pid = hub.processStatus("printer")["pid"].get<int>();
    REQUIRE(pid > 0);
    ::kill(pid, SIGKILL);
    REQUIRE(waitFor([&] {
      const auto p = hub.processStatus("printer");
      return p["pid"].get<int>() != pid && p["state"] == "running";
    }));
  }
  REQUIRE(waitFor(
      [&] {
        std::map<std::string, int> seen;
        for (const auto& line : readLines(printed)) {
          if (line.starts_with("Report:")) ++seen[line];
        }
        return seen.size() == static_cast<std::size_t>(kReports);
      },
      30s));
  REQUIRE(hub.stop() == 0);
  std::map<std::string, int> seen;
  for (const auto& line : readLines(printed)) {
    if (line.starts_with("Report:")) ++seen[line];
  }
  CHECK(seen.size() == static_cast<std::size_t>(kReports));
  // A kill between a finished print command and the record of it may print that job again;
  // with one report per job, that is at most one repeat per kill.
  int repeats = 0;
  for (const auto& [line, n] : seen)
    repeats += n - 1;
  CHECK(repeats <= 2);
}
