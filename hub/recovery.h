// What a starting hub learns from the run before it (DESIGN §1 "Start", step 3): whether
// that run ended abnormally, and which of its processes are still alive. A leftover is
// killed only if it is provably the same process (pid, kernel start time and executable),
// never on a bare pid that may have been reused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace reporthub::hub {

struct PreviousProcess {
  std::string id;
  pid_t pid = 0;
  std::uint64_t starttime = 0;  // /proc/PID/stat field 22, clock ticks since boot
};

struct PreviousRun {
  bool found = false;     // a status file existed
  bool abnormal = false;  // it did not record a completed shutdown
  pid_t hub_pid = 0;
  std::vector<PreviousProcess> processes;
};

// Reads <state_dir>/status.json as the last run left it. Unreadable means "not found".
PreviousRun readPreviousRun(const std::filesystem::path& status_file);

// The kernel's start time of a live process, or nullopt if it is gone.
std::optional<std::uint64_t> processStartTime(pid_t pid);

// Kills (SIGKILL, whole process group) every previous process that is still the same
// process and runs `exe`, and waits until each is gone. Returns the ids killed.
std::vector<std::string> killLeftovers(const PreviousRun& run, const std::string& exe);

}  // namespace reporthub::hub
