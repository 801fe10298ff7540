// Integration tests for the printer output: pages reach the print command once, a failing
// command is retried by the hub with one operator message, batches make one job, and the
// spool directory gets whole files.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using namespace reporthub::test;

namespace {

// A print command that appends its stdin to `printed` and counts its runs in `runs`; it
// fails (exit 1, with a message) while fewer than `failures` runs have happened.
void printScript(const Hub& hub, int failures) {
  const fs::path script = hub.dir() / "print.sh";
  writeFile(script,
            "#!/bin/sh\n"
            "n=$(cat '" +
                (hub.dir() / "runs").string() +
                "' 2>/dev/null || echo 0)\n"
                "n=$((n + 1))\n"
                "echo $n > '" +
                (hub.dir() / "runs").string() +
                "'\n"
                "if [ $n -le " +
                std::to_string(failures) +
                " ]; then\n"
                "  echo \"printer on fire (run $n)\"; exit 1\n"
                "fi\n"
                "cat >> '" +
                (hub.dir() / "printed").string() +
                "'\n"
                "printf '\\n==END==\\n' >> '" +
                (hub.dir() / "printed").string() + "'\n");
  fs::permissions(script, fs::perms::owner_all);
}

const std::string kRouting =
    "recipients:\n"
    "  operator: local\n"
    "  printer: printer\n"
    "categories:\n"
    "  PRINTME: [operator, printer]\n"
    "  default: [operator]\n";

}  // namespace

TEST_CASE("a report for operator and printer is logged once and printed once",
          "[printer][integration]") {
  Hub hub("outputs:\n  printer: { command: [./print.sh] }\n" + kRouting);
  printScript(hub, 0);
  hub.start();
  const auto r =
      hub.hubctl({"report", "-C", "PRINTME", "-s", "error", "-a", "disk=sda", "disk sda failed"});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(waitFor([&] { return countOf(readFile(hub.dir() / "printed"), "==END==") == 1; }));
  const std::string page = readFile(hub.dir() / "printed");
  CHECK(page.find("reporthub report from alpha") != std::string::npos);
  CHECK(page.find("Category: PRINTME") != std::string::npos);
  CHECK(page.find("Severity: error") != std::string::npos);
  CHECK(page.find("Report:   " + id) != std::string::npos);
  CHECK(page.find("disk sda failed") != std::string::npos);
  CHECK(page.find("  disk: sda") != std::string::npos);
  REQUIRE(hub.waitLines(1));
  CHECK(countOf(readFile(hub.operatorLog()), id) == 1);
  REQUIRE(hub.stop() == 0);
  CHECK(countOf(readFile(hub.dir() / "printed"), "==END==") == 1);
}

TEST_CASE("a print command failing three times prints once, with one operator message",
          "[printer][integration]") {
  Hub hub(
      "outputs:\n"
      "  printer:\n"
      "    command: [./print.sh]\n"
      "    retry: { first: 100ms, max: 400ms, alert_after: 3 }\n" +
      kRouting);
  printScript(hub, 3);
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "PRINTME", "paper jam test"}).code == 0);
  REQUIRE(waitFor([&] { return countOf(readFile(hub.dir() / "printed"), "==END==") == 1; }, 15s));
  CHECK(readFile(hub.dir() / "runs") == "4\n");
  CHECK(countOf(readFile(hub.dir() / "printed"), "paper jam test") == 1);
  // The operator heard of the outage once, and of the recovery once.
  REQUIRE(waitFor([&] { return countOf(readFile(hub.operatorLog()), "delivering again") == 1; }));
  const std::string log = readFile(hub.operatorLog());
  CHECK(countOf(log, "printer has failed 3 delivery attempts in a row") == 1);
  CHECK(countOf(log, "printer on fire (run 3)") == 1);
  CHECK(countOf(log, "REPORTHUB warning") == 1);
  const auto st = hub.status();
  bool seen = false;
  for (const auto& o : st["outputs"]) {
    if (o["output"] != "printer") continue;
    seen = true;
    CHECK(o["retries"] == 3);
    CHECK(o["delivered"] == 1);
    CHECK(o["retrying"] == false);
    CHECK(o["last_error"].get<std::string>().find("printer on fire") != std::string::npos);
  }
  CHECK(seen);
  REQUIRE(hub.stop() == 0);
}

TEST_CASE("a print command that hangs is killed and retried", "[printer][integration]") {
  Hub hub(
      "outputs:\n"
      "  printer:\n"
      "    command: [sh, -c, 'if [ -e ok ]; then cat >> printed; else sleep 30; fi']\n"
      "    timeout: 300ms\n"
      "    retry: { first: 100ms, max: 200ms, alert_after: 100 }\n" +
      kRouting);
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "PRINTME", "slow printer"}).code == 0);
  REQUIRE(waitFor([&] {
    const auto st = hub.status();
    for (const auto& o : st["outputs"]) {
      if (o["output"] == "printer" && o["retries"].get<int>() >= 1) {
        return o["last_error"].get<std::string>().find("did not finish within 300ms") !=
               std::string::npos;
      }
    }
    return false;
  }));
  writeFile(hub.dir() / "ok", "");
  REQUIRE(waitFor([&] { return countOf(readFile(hub.dir() / "printed"), "slow printer") == 1; }));
  REQUIRE(hub.stop() == 0);
}

TEST_CASE("a batch interval makes one job of the reports in it", "[printer][integration]") {
  Hub hub(
      "outputs:\n"
      "  printer: { command: [sh, -c, 'echo job >> jobs; cat >> printed'], batch: 1s }\n" +
      kRouting);
  hub.start();
  // Submitted over one connection without waiting, so all five arrive well within the
  // second even on a loaded machine (five hubctl processes need not).
  submitReports(hub, 5, "PRINTME", "batched");
  // Printed when the interval is out, not only at the stop.
  REQUIRE(waitFor([&] { return countOf(readFile(hub.dir() / "printed"), "batched") == 5; }));
  CHECK(readFile(hub.dir() / "jobs") == "job\n");
  CHECK(countOf(readFile(hub.dir() / "printed"), "\f") == 4);  // five pages, one job
  REQUIRE(hub.stop() == 0);
}

TEST_CASE("a long batch interval still prints once answerEvery deliveries are held",
          "[printer][integration]") {
  // The printer holds deliveries for an hour, but answers the hub after answerEvery(1024)
  // = 512 of them: those are printed long before the hour is out.
  Hub hub(
      "shutdown: { kill_timeout: 1h }\n"
      "outputs:\n"
      "  printer: { command: [sh, -c, 'echo job >> jobs; cat >> printed'], batch: 1h }\n" +
      kRouting);
  hub.start();
  submitReports(hub, 600, "PRINTME", "held");
  REQUIRE(waitFor([&] { return countOf(readFile(hub.dir() / "printed"), "held") >= 512; }));
  // One more after that job: whatever the first job took, this one is held for the hour.
  REQUIRE(hub.hubctl({"report", "-C", "PRINTME", "held last"}).code == 0);
  // DMStop tells the printer to stop holding: the rest is printed at once, each report once,
  // and the stop waits neither for the hour nor for kill_timeout.
  REQUIRE(hub.stop(10s) == 0);
  CHECK(countOf(readFile(hub.dir() / "printed"), "held") == 601);
  CHECK(readFile(hub.hubLog()).find("asking printer") != std::string::npos);
}

TEST_CASE("a spool directory gets one whole file per job", "[printer][integration]") {
  Hub hub("outputs:\n  printer: { spool: var/spool }\n" + kRouting);
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "PRINTME", "to the spool"}).code == 0);
  const fs::path spool = hub.dir() / "var/spool";
  std::vector<fs::path> files;
  REQUIRE(waitFor([&] {
    files.clear();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(spool, ec))
      files.push_back(e.path());
    return files.size() == 1 && files[0].extension() == ".txt";
  }));
  CHECK(readFile(files[0]).find("to the spool") != std::string::npos);
  REQUIRE(hub.stop() == 0);
}

TEST_CASE("DMStop does not wait for an output that is waiting to retry",
          "[printer][integration][shutdown]") {
  Hub hub(
      "shutdown: { kill_timeout: 60s }\n"
      "outputs:\n"
      "  printer:\n"
      "    command: [sh, -c, 'exit 1']\n"
      "    retry: { first: 30s, max: 30s }\n" +
      kRouting);
  hub.start();
  REQUIRE(hub.hubctl({"report", "-C", "PRINTME", "waits for a working printer"}).code == 0);
  REQUIRE(waitFor([&] {
    auto st = hub.status();
    for (const auto& o : st["outputs"]) {
      if (o["output"] == "printer") return o["retrying"] == true;
    }
    return false;
  }));
  const auto begin = std::chrono::steady_clock::now();
  CHECK(hub.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - begin < 10s);  // not kill_timeout (60 s)
  CHECK(readFile(hub.hubLog()).find("printer is waiting to retry") != std::string::npos);
  // The report is kept for the next start.
  CHECK(readFile(hub.hubLog()).find("its 1 undelivered reports stay in the journal") !=
        std::string::npos);
}
