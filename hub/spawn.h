// Starting child processes cleanly: own process group, parent-death signal, default signal
// mask and dispositions, and no inherited descriptors except stdio and the ones handed over.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace reporthub::hub {

// Starts argv[0] with `argv`. Each fd in `pass` is handed to the child as 3, 4, ...
// Returns the pid, or -1 with errno set. Must be called from the main thread: the
// parent-death signal fires when the thread that forked exits, not the process.
pid_t spawnChild(const std::vector<std::string>& argv, const std::vector<int>& pass = {});

// This executable's own path, for re-executing it in a child role.
std::string selfExe();

}  // namespace reporthub::hub
