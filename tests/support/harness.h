// Test support for integration tests: a temporary directory per test, real reporthub and
// hubctl processes started in it, waiting on conditions with deadlines (never fixed
// sleeps), and cleanup that leaves no process behind.
#pragma once

#include "tests/support/temp_dir.h"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace reporthub::test {

using namespace std::chrono_literals;

struct RunResult {
  int code = -1;  // exit code; 128+N if killed by signal N
  std::string out;
  std::string err;
};

// Runs a command to completion (killed after `timeout`), capturing its output.
RunResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s);

// A process running in the background with its output in files. Killed (its whole process
// group) on destruction if still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& out_file,
          const std::filesystem::path& err_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits for exit; returns the exit code (128+N for signal N) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void signal(int sig);
  void killAll();  // SIGKILL to the process group, then reap

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Polls `cond` until it is true or the deadline passes. Returns the final value.
bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s,
             std::chrono::milliseconds interval = 10ms);

std::vector<std::string> readLines(const std::filesystem::path& p);
void writeFile(const std::filesystem::path& p, const std::string& text);

// The kernel's start time of a process (/proc/PID/stat field 22), 0 if it is gone.
std::uint64_t processStartTime(pid_t pid);

std::string reporthubBin();
std::string hubctlBin();

// One hub under test: writes hub.yaml in its own TempDir, runs `reporthub run`, and
// guarantees the hub and all its children are gone at the end.
class Hub {
 public:
  // `body` is YAML appended after `node:` and `paths:` (which point into the temp dir).
  explicit Hub(const std::string& body = "", const std::string& node = "alpha");
  ~Hub();

  const TempDir& dir() const { return dir_; }
  std::filesystem::path config() const { return dir_ / "hub.yaml"; }
  std::filesystem::path operatorLog() const { return dir_ / "var/operator.log"; }
  std::filesystem::path hubLog() const { return dir_ / "var/hub.log"; }
  // Where children and attached inputs reach the hub.
  std::string childEndpoint() const { return "ipc://" + (dir_ / "run/hub.sock").string(); }

  // Starts `reporthub run` and waits until it answers status (fails the test if not).
  void start();
  Process& process() { return *proc_; }
  RunResult hubctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s);
  nlohmann::json status();
  // The status entry of one process by id (null if absent).
  nlohmann::json processStatus(const std::string& id);
  // Waits until the operator log has at least `n` lines.
  bool waitLines(std::size_t n, std::chrono::milliseconds timeout = 10s);
  // DMStop --wait and the hub's exit code.
  int stop(std::chrono::milliseconds timeout = 30s);

 private:
  TempDir dir_;
  std::unique_ptr<Process> proc_;
};

// Submits `n` reports of `category` as an attached input called `name`, their texts
// "NAME 0", "NAME 1", ...; at most `per_second` a second if given. Returns their ids once the
// hub has acknowledged all of them.
std::vector<std::string> submitReports(const Hub& hub, int n, const std::string& category,
                                       const std::string& name = "submitter", int per_second = 0);

}  // namespace reporthub::test
