// Integration tests for the local output's file handling and console: logrotate's rename
// plus `hubctl reopen` loses no line, built-in rotation keeps the configured files, and
// `hubctl console` replays the log's tail and colours by severity.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

namespace fs = std::filesystem;
using namespace reporthub::test;

namespace {

// Every report id in the operator log files given, failing on a repeat.
std::set<std::string> idsIn(const std::vector<fs::path>& files, std::size_t& lines) {
  std::set<std::string> ids;
  lines = 0;
  for (const auto& f : files) {
    for (const auto& line : readLines(f)) {
      if (line.find(" TESTLOAD ") == std::string::npos) continue;
      ++lines;
      const auto open = line.rfind(" [");
      REQUIRE(open != std::string::npos);
      const bool fresh = ids.insert(line.substr(open + 2, line.size() - open - 3)).second;
      INFO(line);
      CHECK(fresh);
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("a logrotate rename and hubctl reopen lose no line", "[local][integration]") {
  constexpr int kReports = 200'000;
  Hub hub("inputs:\n  testproc:\n    - { name: load, mode: emit, count: " +
          std::to_string(kReports) + ", category: TESTLOAD }\n");
  hub.start();
  // Rotate while reports are still streaming in.
  REQUIRE(hub.waitLines(1000, 20s));
  const fs::path rotated = hub.operatorLog().string() + ".1";
  fs::rename(hub.operatorLog(), rotated);
  const auto r = hub.hubctl({"reopen"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "asked 1 output to reopen their files\n");
  std::size_t lines = 0;
  REQUIRE(waitFor(
      [&] {
        std::error_code ec;
        const auto a = fs::file_size(rotated, ec);
        const auto b = fs::file_size(hub.operatorLog(), ec);
        return a + b > 0 && readLines(rotated).size() + readLines(hub.operatorLog()).size() >=
                                static_cast<std::size_t>(kReports);
      },
      60s, 100ms));
  REQUIRE(hub.stop(60s) == 0);
  const auto ids = idsIn({rotated, hub.operatorLog()}, lines);
  CHECK(lines == static_cast<std::size_t>(kReports));
  CHECK(ids.size() == static_cast<std::size_t>(kReports));
  // The reopen happened mid-stream: both files got reports.
  CHECK(readLines(rotated).size() < static_cast<std::size_t>(kReports));
  CHECK(readFile(hub.hubLog()).find("[local] info: reopened") != std::string::npos);
}

TEST_CASE("built-in rotation keeps the configured number of files", "[local][integration]") {
  Hub hub(
      "outputs:\n  local: { rotate: { size: 4KiB, keep: 2 } }\n"
      "inputs:\n  testproc:\n    - { name: load, mode: emit, count: 300, category: TESTLOAD }\n");
  hub.start();
  const fs::path log = hub.operatorLog();
  const fs::path one = log.string() + ".1", two = log.string() + ".2", three = log.string() + ".3";
  // The last report is in the current file once all are delivered.
  REQUIRE(waitFor(
      [&] { return readFile(log).find("testproc load report 300 ") != std::string::npos; }));
  REQUIRE(hub.stop() == 0);
  CHECK(fs::exists(one));
  CHECK(fs::exists(two));
  CHECK_FALSE(fs::exists(three));
  for (const auto& f : {log, one, two}) {
    INFO(f.string());
    CHECK(fs::file_size(f) <= 4096);
  }
  std::size_t lines = 0;
  idsIn({two, one, log}, lines);  // no repeats across the rotated files
  CHECK(lines > 0);
}

TEST_CASE("hubctl console replays the last lines, then follows, in colour when asked",
          "[local][integration][control]") {
  Hub hub;
  hub.start();
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(hub.hubctl({"report", "-C", "OLD", "-s", i == 5 ? "critical" : "info",
                        "old " + std::to_string(i)})
                .code == 0);
  }
  REQUIRE(hub.waitLines(5));
  Process console(
      {hubctlBin(), "-c", hub.config().string(), "console", "-n", "2", "--color", "always"},
      hub.dir() / "console.out", hub.dir() / "console.err");
  REQUIRE(waitFor([&] { return readLines(hub.dir() / "console.out").size() >= 2; }));
  // PUB/SUB joins asynchronously: send probes until one shows up.
  int probe = 0;
  REQUIRE(waitFor(
      [&] {
        hub.hubctl({"report", "-C", "PROBE", "-s", "warning", "probe " + std::to_string(++probe)});
        return readFile(hub.dir() / "console.out").find("PROBE") != std::string::npos;
      },
      10s, 50ms));
  REQUIRE(hub.stop() == 0);
  REQUIRE(console.wait(5s) == 0);
  const auto lines = readLines(hub.dir() / "console.out");
  REQUIRE(lines.size() >= 3);
  CHECK(lines[0].find("OLD info old 4") != std::string::npos);
  CHECK(lines[0].find("\033[") == std::string::npos);  // info is not coloured
  CHECK(lines[1].starts_with("\033[1;31m"));           // critical: bold red
  CHECK(lines[1].find("OLD critical old 5") != std::string::npos);
  CHECK(lines[1].ends_with("\033[0m"));
  CHECK(lines[2].starts_with("\033[33m"));  // warning: yellow
  CHECK(readFile(hub.dir() / "console.out").find("old 3") == std::string::npos);
}

TEST_CASE("a rotation that cannot rename writes on and says so once", "[local][integration]") {
  Hub hub(
      "outputs:\n  local: { rotate: { size: 4KiB, keep: 2 } }\n"
      "inputs:\n  testproc:\n    - { name: load, mode: emit, count: 300, category: TESTLOAD }\n");
  // operator.log.1 and .2 are directories that are not empty: the log cannot be renamed.
  fs::create_directories(hub.operatorLog().string() + ".1/blocker");
  fs::create_directories(hub.operatorLog().string() + ".2/blocker");
  hub.start();
  REQUIRE(waitFor([&] {
    return readFile(hub.operatorLog()).find("testproc load report 300 ") != std::string::npos;
  }));
  REQUIRE(hub.stop() == 0);
  std::size_t lines = 0;
  idsIn({hub.operatorLog()}, lines);
  CHECK(lines == 300);
  const std::string log = readFile(hub.hubLog());
  CHECK(countOf(log, "cannot rotate") == 1);
}
