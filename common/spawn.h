// Starting child processes cleanly: own process group, parent-death signal, default signal
// mask and dispositions, and no inherited descriptors except stdio and the ones handed
// over. The hub starts its roles with it; outputs and inputs start their commands (a print
// command, a check plugin) with it.
#pragma once

#include "common/duration.h"

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace reporthub {

struct SpawnOptions {
  std::vector<int> pass;  // handed to the child as 3, 4, ... (at most 16)
  // The child's stdin, stdout and stderr; -1 keeps the parent's (stdin: /dev/null instead).
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Run as this user (its uid, gid and supplementary groups); needs privilege to switch.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
  std::string cwd;  // working directory ("" keeps the parent's)
};

// Starts `argv` (argv[0] is taken as a path; see findProgram). Returns the pid, or -1 with
// errno set (also when exec fails: the child's errno is passed back, the child reaped). Must be
// called from the main thread: the parent-death signal fires when the thread that forked exits.
pid_t spawnChild(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

// argv[0] as exec would find it: as is if it holds a '/', else searched in PATH. Empty if
// not found or not executable.
std::string findProgram(const std::string& name);

// This executable's own path, for re-executing it in a child role.
std::string selfExe();

// The outcome of runCommand.
struct CommandResult {
  bool started = false;    // false: could not start (error says why)
  bool timed_out = false;  // killed (with its process group) after the timeout
  int wait_status = 0;     // as from waitpid, when it ran to the end
  std::string output;      // stdout and stderr together, at most `max_output` bytes
  std::string error;       // why it could not start
};

// Runs a command to completion with `input` on its stdin, collecting its output; after
// `timeout` its whole process group is killed. Blocks the calling thread.
// It runs in `cwd` ("" keeps ours).
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input,
                         Duration timeout, const std::string& cwd = {},
                         std::size_t max_output = 64 * 1024);

// "exit 1", "signal 9 (Killed)".
std::string describeWaitStatus(int wait_status);

}  // namespace reporthub
