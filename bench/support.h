// Shared plumbing for the benchmarks: a temp dir with a real hub started in it (and always
// killed at the end), child processes that die with the bench, waiting on conditions with
// deadlines, tailing the operator log, and small statistics helpers.
#pragma once

#include "common/child_link.h"
#include "common/report.h"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace reporthub::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0);

// SIGINT/SIGTERM/SIGHUP set a flag instead of killing the bench, so the destructors still stop
// the hub and remove the temp dir. waitFor() and Generator throw Interrupted once it is set.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
void installInterruptHandler();
void throwIfInterrupted();

// Polls `cond` until it is true or `timeout` passes; returns the final value.
bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::microseconds interval = 1ms);

double median(std::vector<double> v);
// The q-quantile (0..1) of `sorted`, by nearest rank.
double quantile(const std::vector<double>& sorted, double q);

// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM" for the peak); -1 if unreadable.
long statusKib(pid_t pid, const std::string& field = "VmRSS");
// CPU time (user + system, all threads) a process has used so far, from /proc/PID/stat.
double cpuSeconds(pid_t pid);

// A report whose msgpack encoding is `bytes` long (as near as the fields allow).
Report makeReport(std::size_t bytes, const std::string& category = "BENCH");

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process in its own process group with its output in files. It gets SIGKILL if
// the bench dies (parent-death signal); the destructor kills its whole group.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& out_file,
        const std::filesystem::path& err_file);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits for exit; the exit code (128+N for signal N), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill();  // SIGKILL to the process group, then reap

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// Runs a command to completion (killed after `timeout`); the exit code and stdout.
struct RunResult {
  int code = -1;
  std::string out;
};
std::string readFile(const std::filesystem::path& p);
RunResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Counts the complete lines appended to a file, reading only what is new on each call.
// `on_line`, if set, sees each new line (without its newline).
class LogTail {
 public:
  explicit LogTail(std::filesystem::path file) : file_(std::move(file)) {}
  ~LogTail();
  LogTail(const LogTail&) = delete;
  LogTail& operator=(const LogTail&) = delete;

  std::size_t poll();  // reads what was appended; returns the total line count
  std::size_t lines() const { return lines_; }
  std::function<void(std::string_view)> on_line;

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  std::size_t lines_ = 0;
  std::string partial_;
  std::vector<char> buf_ = std::vector<char>(1 << 20);
};

// One hub in its own temp dir: writes hub.yaml (`node`, `paths`, then `body`), runs
// `reporthub run`, and guarantees it and its children are gone at the end.
class Hub {
 public:
  // `node` names the hub: benches with two hubs need two names.
  explicit Hub(const std::string& body, std::string node = "bench");
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  std::filesystem::path dir() const { return dir_.path(); }
  std::filesystem::path config() const { return dir_.path() / "hub.yaml"; }
  std::filesystem::path operatorLog() const { return dir_.path() / "var/operator.log"; }
  std::string childEndpoint() const { return "ipc://" + (dir_.path() / "run/hub.sock").string(); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  std::string stderrText() const;

  // Rewrites hub.yaml (`node`, `paths`, then `body`); the next start() or launch() reads it.
  void writeConfig(const std::string& body);
  // Starts the hub and waits until it answers status and all its processes are running.
  // Throws std::runtime_error (with the hub's stderr) if it does not come up.
  void start(std::chrono::milliseconds timeout = 20s);
  // Starts `reporthub run` and returns at once (a previous process of this Hub is killed).
  void launch();
  // `hubctl -c CONFIG args...`, as an argv to run, or run to completion.
  std::vector<std::string> hubctlArgv(const std::vector<std::string>& args) const;
  RunResult hubctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10s);
  nlohmann::json status();                  // null if the hub did not answer
  pid_t processPid(const std::string& id);  // pid of a supervised process, -1 if unknown
  // DMStop --wait; returns the hub's exit code (-1 if it did not exit in time) and, if that
  // is not 0, prints a warning with the hub's stderr.
  int stop(std::chrono::milliseconds timeout = 30s);
  // Waits for the hub to exit by itself; its exit code, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) { return proc_ ? proc_->wait(timeout) : -1; }
  void kill() {
    if (proc_) proc_->kill();
  }

 private:
  TempDir dir_;
  std::string node_;
  std::unique_ptr<Child> proc_;
};

// A load generator: an external input on the hub's child socket (the hub accepts it as an
// "attached" input), speaking the child protocol through ChildLink.
class Generator {
 public:
  explicit Generator(const std::string& endpoint, const std::string& id = "bench");
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Sends one report, waiting for credit; throws Interrupted on SIGINT/SIGTERM.
  void submit(const Report& r);
  // Waits until the hub acknowledged every report; throws if it does not within `timeout`.
  void waitAcked(Duration timeout);
  // Reads what the hub sent (Acks), waiting up to `timeout` for something to arrive.
  void pump(Duration timeout);
  std::uint64_t submitted() const { return link_->submitted(); }
  std::uint64_t acked() const { return link_->acked(); }
  bool hasCredit() const { return link_->hasCredit(); }
  // Wall time submit() spent waiting for credit: the hub had not acknowledged enough yet.
  double creditWaitSeconds() const { return credit_wait_s_; }

 private:
  zmq::context_t ctx_{1};
  std::unique_ptr<ChildLink> link_;
  double credit_wait_s_ = 0;
};

}  // namespace reporthub::bench
