// Tests for common/spawn: commands get their input, their output and exit status come back,
// and a command that overstays its timeout is killed with everything it started.
#include "common/spawn.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>

using namespace reporthub;
using namespace std::chrono_literals;

TEST_CASE("runCommand feeds stdin and collects stdout and stderr", "[spawn]") {
  const std::string input(200'000, 'x');  // more than a pipe holds
  auto r = runCommand({"sh", "-c", "wc -c; echo oops >&2; exit 3"}, input, 5s);
  REQUIRE(r.started);
  CHECK_FALSE(r.timed_out);
  CHECK(WIFEXITED(r.wait_status));
  CHECK(WEXITSTATUS(r.wait_status) == 3);
  CHECK(r.output == "200000\noops\n");
  CHECK(describeWaitStatus(r.wait_status) == "exit 3");
}

TEST_CASE("runCommand kills the process group of a command past its timeout", "[spawn]") {
  const auto start = std::chrono::steady_clock::now();
  // The grandchild sleeping in the background holds the output pipe open too.
  auto r = runCommand({"sh", "-c", "sleep 30 & echo started; wait"}, "", 300ms);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(r.started);
  CHECK(r.timed_out);
  CHECK(r.output == "started\n");
  CHECK(took < 5s);
  CHECK(WIFSIGNALED(r.wait_status));
}

TEST_CASE("runCommand says why a command cannot start", "[spawn]") {
  auto missing = runCommand({"no-such-command-anywhere"}, "", 1s);
  CHECK_FALSE(missing.started);
  CHECK(missing.error == "'no-such-command-anywhere' not found or not executable");
  auto empty = runCommand({}, "", 1s);
  CHECK_FALSE(empty.started);
}

TEST_CASE("runCommand survives a command that does not read its input", "[spawn]") {
  auto r = runCommand({"true"}, std::string(1 << 20, 'x'), 5s);
  REQUIRE(r.started);
  CHECK(WIFEXITED(r.wait_status));
  CHECK(WEXITSTATUS(r.wait_status) == 0);
}

TEST_CASE("runCommand keeps at most max_output bytes", "[spawn]") {
  auto r = runCommand({"sh", "-c", "yes | head -c 100000"}, "", 5s, {}, 1000);
  REQUIRE(r.started);
  CHECK(r.output.size() == 1000);
}

TEST_CASE("runCommand runs in the directory it is given", "[spawn]") {
  auto r = runCommand({"pwd"}, "", 5s, "/usr");
  REQUIRE(r.started);
  CHECK(r.output == "/usr\n");
}

TEST_CASE("findProgram searches PATH only for bare names", "[spawn]") {
  CHECK(findProgram("sh").ends_with("/sh"));
  CHECK(findProgram("/bin/sh") == "/bin/sh");
  CHECK(findProgram("./surely-not-here").empty());
  CHECK(findProgram("").empty());
}
