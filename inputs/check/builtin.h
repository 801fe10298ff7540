// Built-in checks that need no plugin: disk, file, process, tcp and queue. Each is a plain
// function from its config to a result. They may block (a hung NFS mount, slow DNS), so the
// runner calls them on its worker threads, never on its event loop.
#pragma once

#include "config/config.h"
#include "inputs/check/result.h"

#include <filesystem>

namespace reporthub::inputs::check {

// Used space of the filesystem holding `path`, as df counts it: blocks in use over the
// blocks an unprivileged user could have (root's reserve left out).
Result diskProbe(const config::DiskCheck& c);

// Missing: critical. Otherwise the worse of the age (since last modification) and size
// limits that are set.
Result fileProbe(const config::FileCheck& c, WallTime now);

// By pid file: the pid in it is alive. By name: at least `min` processes whose
// /proc/PID/comm or argv[0] basename is `name`. `proc` is where procfs is mounted.
Result processProbe(const config::ProcessCheck& c, const std::filesystem::path& proc = "/proc");

// A TCP connect to host:port (any address it resolves to) succeeds within `timeout`.
Result tcpProbe(const config::TcpCheck& c, Duration timeout);

// The number of entries in a directory against warn/crit (above them).
Result queueProbe(const config::QueueCheck& c);

// "12.3 GiB", "512 B": sizes as an operator reads them.
std::string humanBytes(double bytes);
// "45s", "12m", "3h", "2d": how old something is, rounded down.
std::string humanAge(Duration d);

}  // namespace reporthub::inputs::check
