// Command checks in the monitoring-plugin convention: one run of an argv (never a shell) in
// its own process group with its output captured, and the mapping of its exit status and
// output to a check result. The runner polls the descriptors; nothing here blocks for long.
#pragma once

#include "config/config.h"
#include "inputs/check/result.h"

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub::inputs::check {

// Output kept per stream; the rest is read and dropped so the plugin never blocks on a pipe.
constexpr std::size_t kMaxCapture = 16 * 1024;
// Longest text and perfdata put in a report.
constexpr std::size_t kMaxText = 1024;
constexpr std::size_t kMaxPerfdata = 4096;

// The plugin convention: the first line is "TEXT | PERFDATA"; later lines are long text,
// and from the first '|' in them on, more perfdata.
struct PluginOutput {
  std::string text;
  std::string perfdata;
};
PluginOutput parsePluginOutput(std::string_view out);

// Exit 0 ok, 1 warning, 2 critical, 3 unknown; any other exit or a signal is unknown. The
// text is stdout's first line, or stderr's if stdout has none.
Result pluginResult(int wait_status, std::string_view out, std::string_view err);

// argv[0] as it will be run: as written if it holds a '/' (the loader made it absolute),
// else found in PATH. Returns "" with `error` set if not found.
std::string resolveProgram(const std::string& name, std::string& error);

// One running command. Owns its pidfd and the read ends of its stdout and stderr pipes.
class CommandRun {
 public:
  // Starts `cmd` in `workdir`, in its own process group with stdin on /dev/null, as
  // `cmd.user` if set. Returns null with `error` set (a reason for an UNKNOWN result) if it
  // could not start.
  static std::unique_ptr<CommandRun> start(const config::CommandCheck& cmd,
                                           const std::filesystem::path& workdir,
                                           std::string& error);
  // A run still going is killed (its whole group) and reaped.
  ~CommandRun();
  CommandRun(const CommandRun&) = delete;
  CommandRun& operator=(const CommandRun&) = delete;

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  int outFd() const { return out_fd_; }  // -1 once at end of file
  int errFd() const { return err_fd_; }

  // Reads what `fd` (outFd or errFd) holds without blocking; closes it at end of file.
  void readOutput(int fd);
  // SIGKILL to the process group (the timeout).
  void killGroup();
  // Once pidfd is readable: reaps, reads what the pipes still hold, closes them. False if
  // the process has not exited yet.
  bool reap();
  int waitStatus() const { return status_; }
  Result result() const;

 private:
  CommandRun() = default;
  void closeFd(int& fd);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string lost_;  // why the exit status is unknown, if it is
  std::string out_, err_;
};

}  // namespace reporthub::inputs::check
