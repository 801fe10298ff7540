// Tests for inputs/check/plugin.cpp: the plugin output convention, the exit status mapping,
// and real command runs (capture, process-group kill, exec errors, running as another user).
#include "inputs/check/plugin.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

using namespace reporthub;
using namespace reporthub::inputs::check;
using namespace std::chrono_literals;

namespace {

int exited(int code) {
  return (code & 0xff) << 8;
}

// Runs a command to the end the way the runner does: polls its descriptors, reads, reaps.
Result runToEnd(CommandRun& run, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    for (int fd : {run.pidfd(), run.outFd(), run.errFd()}) {
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 100);
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == run.pidfd()) {
        if (run.reap()) return run.result();
      } else {
        run.readOutput(p.fd);
      }
    }
  }
  FAIL("command did not end within the timeout");
  return {};
}

config::CommandCheck sh(const std::string& script) {
  return {{"/bin/sh", "-c", script}, ""};
}

// Alive and not a zombie (an orphan may wait a while for whoever adopts it to reap it).
bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

}  // namespace

TEST_CASE("plugin output: text, perfdata and long output", "[check]") {
  auto p = parsePluginOutput("DISK OK - free space: / 3326 MB (56%) | /=2643MB;5948;5958;0;5968\n");
  CHECK(p.text == "DISK OK - free space: / 3326 MB (56%)");
  CHECK(p.perfdata == "/=2643MB;5948;5958;0;5968");

  p = parsePluginOutput("just text");
  CHECK(p.text == "just text");
  CHECK(p.perfdata.empty());

  // Nagios 3 long output: lines after the first are long text until a '|', then perfdata.
  p = parsePluginOutput(
      "DISK OK | /=2643MB\n/ 15272 MB (77%)\n/boot 68 MB (69%)\n| "
      "/boot=68MB;88;93\n/home=69357MB\n");
  CHECK(p.text == "DISK OK");
  CHECK(p.perfdata == "/=2643MB /boot=68MB;88;93 /home=69357MB");

  p = parsePluginOutput("\n");
  CHECK(p.text.empty());
  p = parsePluginOutput("  padded \r\nsecond");
  CHECK(p.text == "padded");

  const std::string huge(5000, 'x');
  p = parsePluginOutput(huge + " | " + huge);
  CHECK(p.text.size() == kMaxText);
  CHECK(p.perfdata.size() == kMaxPerfdata);
}

TEST_CASE("plugin exit status: 0-3 map to states, anything else is unknown", "[check]") {
  CHECK(pluginResult(exited(0), "OK - fine", "").state == State::ok);
  CHECK(pluginResult(exited(1), "W", "").state == State::warning);
  CHECK(pluginResult(exited(2), "C", "").state == State::critical);
  auto r = pluginResult(exited(3), "U", "");
  CHECK(r.state == State::unknown);
  CHECK(r.exit_status == 3);

  r = pluginResult(exited(4), "odd", "");
  CHECK(r.state == State::unknown);
  CHECK(r.text == "exit status 4: odd");
  CHECK(r.exit_status == 4);

  r = pluginResult(exited(127), "", "sh: 1: nope: not found\n");
  CHECK(r.state == State::unknown);
  CHECK(r.text == "exit status 127: sh: 1: nope: not found");

  r = pluginResult(SIGSEGV, "partial", "");
  CHECK(r.state == State::unknown);
  CHECK(r.text.find("killed by signal 11") == 0);
  CHECK(r.text.find(": partial") != std::string::npos);
  CHECK(!r.exit_status);

  r = pluginResult(exited(0), "", "");
  CHECK(r.text == "(no output)");
  // stdout first; stderr only when stdout says nothing.
  CHECK(pluginResult(exited(2), "from stdout", "from stderr").text == "from stdout");
  CHECK(pluginResult(exited(2), "", "from stderr").text == "from stderr");
}

TEST_CASE("command run: output captured, exit status and perfdata", "[check]") {
  std::string error;
  auto run = CommandRun::start(sh("echo 'LOAD WARNING - 4.2 | load1=4.2;4;8'; echo oops >&2; "
                                  "exit 1"),
                               {}, error);
  REQUIRE(run);
  auto r = runToEnd(*run);
  CHECK(r.state == State::warning);
  CHECK(r.text == "LOAD WARNING - 4.2");
  CHECK(r.perfdata == "load1=4.2;4;8");
  CHECK(r.exit_status == 1);
  CHECK(run->outFd() < 0);
  CHECK(run->pidfd() < 0);
}

TEST_CASE("command run: its own process group, stdin empty, nothing inherited", "[check]") {
  std::string error;
  // fd 3 and up are the test's own (Catch, its temp files); none may reach the plugin.
  auto run = CommandRun::start(
      sh("echo \"$(ps -o pgid= -p $$ | tr -d ' ') $$ $(cat | wc -c) $(ls /proc/self/fd | wc -l)\""),
      {}, error);
  REQUIRE(run);
  const auto r = runToEnd(*run);
  INFO(r.text);
  std::istringstream in(r.text);
  long pgid = 0, pid = 0, stdin_bytes = -1, fds = 0;
  in >> pgid >> pid >> stdin_bytes >> fds;
  CHECK(pgid == pid);
  CHECK(pid == run->pid());
  CHECK(stdin_bytes == 0);
  CHECK(fds <= 4);  // 0, 1, 2 and the one ls opened to list them
}

TEST_CASE("command run: a timeout kills the whole process group", "[check]") {
  test::TempDir dir;
  const auto pidfile = dir / "bg.pid";
  std::string error;
  auto run =
      CommandRun::start(sh("sleep 30 & echo $! > " + pidfile.string() + "; wait"), {}, error);
  REQUIRE(run);
  pid_t bg = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (bg <= 0 && std::chrono::steady_clock::now() < deadline) {
    std::ifstream(pidfile) >> bg;
    if (bg <= 0) std::this_thread::sleep_for(5ms);  // polling for a file with a deadline
  }
  REQUIRE(bg > 0);
  REQUIRE(alive(bg));
  run->killGroup();
  auto r = runToEnd(*run);
  CHECK(r.state == State::unknown);
  CHECK(r.text.find("killed by signal 9") == 0);
  // The shell's background child was in the group too.
  const auto gone_by = std::chrono::steady_clock::now() + 5s;
  while (alive(bg) && std::chrono::steady_clock::now() < gone_by) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(!alive(bg));
}

TEST_CASE("command run: commands that cannot start give a reason", "[check]") {
  std::string error;
  CHECK(!CommandRun::start({{"/nonexistent/check_x"}, ""}, {}, error));
  CHECK(error == "cannot execute /nonexistent/check_x: No such file or directory");

  error.clear();
  CHECK(!CommandRun::start({{"no-such-plugin-anywhere"}, ""}, {}, error));
  CHECK(error.find("'no-such-plugin-anywhere' not found in PATH") == 0);

  test::TempDir dir;
  const auto noexec = dir.write("plugin.sh", "#!/bin/sh\nexit 0\n");
  error.clear();
  CHECK(!CommandRun::start({{noexec.string()}, ""}, {}, error));
  CHECK(error == "cannot execute " + noexec.string() + ": Permission denied");

  error.clear();
  CHECK(!CommandRun::start({{"/bin/true"}, "no-such-user-xyz"}, {}, error));
  CHECK(error == "no such user 'no-such-user-xyz'");
}

TEST_CASE("command run: in the given working directory", "[check]") {
  test::TempDir dir;
  std::string error;
  auto run = CommandRun::start(sh("pwd"), dir.path(), error);
  REQUIRE(run);
  CHECK(runToEnd(*run).text == dir.path().string());
}

TEST_CASE("command run: PATH lookup", "[check]") {
  std::string error;
  const auto sh_path = resolveProgram("sh", error);
  CHECK(!sh_path.empty());
  CHECK(sh_path.find("/sh") != std::string::npos);
  CHECK(resolveProgram("/bin/x", error) == "/bin/x");  // a path is taken as written
  auto run = CommandRun::start({{"sh", "-c", "exit 2"}, ""}, {}, error);
  REQUIRE(run);
  CHECK(runToEnd(*run).state == State::critical);
}

TEST_CASE("command run: as another user", "[check]") {
  std::string error;
  auto run = CommandRun::start({{"/bin/sh", "-c", "echo $(id -u) $(id -g)"}, "nobody"}, {}, error);
  if (geteuid() != 0) {
    // Not root: switching is impossible and says so instead of running as the wrong user.
    CHECK(!run);
    CHECK(error.find("cannot run as user 'nobody': switching users needs root") == 0);
    return;
  }
  REQUIRE(run);
  const auto r = runToEnd(*run);
  CHECK(r.state == State::ok);
  CHECK(r.text == "65534 65534");
}

TEST_CASE("command run: output beyond the capture limit is drained, not kept", "[check]") {
  std::string error;
  // 1 MiB is far more than a pipe holds: the plugin finishes only if it is read.
  auto run =
      CommandRun::start(sh("head -c 1048576 /dev/zero | tr '\\0' x; echo; exit 2"), {}, error);
  REQUIRE(run);
  const auto r = runToEnd(*run);
  CHECK(r.state == State::critical);
  CHECK(r.text.size() == kMaxText);
}
