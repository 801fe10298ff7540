// Recovery from the previous run; see recovery.h.
#include "hub/recovery.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace reporthub::hub {

namespace {
// Direct system calls: glibc 2.36's <sys/pidfd.h> declares these without C linkage.
int pidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}
int pidfdKill(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}
}  // namespace

PreviousRun readPreviousRun(const std::filesystem::path& status_file) {
  PreviousRun run;
  std::ifstream in(status_file);
  if (!in) return run;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    spdlog::warn("status file {} is unreadable; assuming the previous run ended abnormally",
                 status_file.string());
    run.found = run.abnormal = true;
    return run;
  }
  run.found = true;
  run.abnormal = j.value("phase", "") != "stopped";
  run.hub_pid = j.value("pid", 0);
  for (const auto& p : j.value("processes", nlohmann::json::array())) {
    PreviousProcess prev{p.value("id", ""), p.value("pid", 0), p.value("starttime", 0ULL)};
    if (prev.pid > 0 && prev.starttime > 0) run.processes.push_back(prev);
  }
  return run;
}

std::optional<std::uint64_t> processStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  char state = 0;
  rest >> state;
  if (state == 'Z' || state == 'X') return std::nullopt;  // already dead, not yet reaped
  for (int i = 4; i <= 21; ++i)
    rest >> field;  // fields 4..21
  std::uint64_t start = 0;
  if (!(rest >> start)) return std::nullopt;
  return start;
}

std::vector<std::string> killLeftovers(const PreviousRun& run, const std::string& exe) {
  std::vector<std::string> killed;
  for (const auto& p : run.processes) {
    // The pidfd pins the process: once the identity checks pass, the signal cannot reach a
    // different process that reused the pid meanwhile.
    const int pidfd = pidfdOpen(p.pid);
    if (pidfd < 0) continue;  // gone
    const auto start = processStartTime(p.pid);
    std::error_code ec;
    const auto target =
        std::filesystem::read_symlink("/proc/" + std::to_string(p.pid) + "/exe", ec);
    if (!start || *start != p.starttime || ec || target.string() != exe) {
      close(pidfd);  // the pid was reused by something else: not ours to touch
      continue;
    }
    spdlog::warn(
        "{} (pid {}) of the previous run is still alive; killing it (SIGKILL to its "
        "process group) before anything starts",
        p.id, p.pid);
    // The group first, while its leader is alive (checked just above through the pidfd): a
    // group id cannot be reused while its leader lives. Then the leader through the pidfd,
    // which cannot reach anything else.
    kill(-p.pid, SIGKILL);
    pidfdKill(pidfd, SIGKILL);
    // Not our child, so no waitpid: the pidfd becomes readable when it has terminated.
    pollfd pfd{pidfd, POLLIN, 0};
    if (poll(&pfd, 1, 5000) != 1) {
      spdlog::error(
          "{} (pid {}) of the previous run did not die within 5s of SIGKILL; "
          "starting anyway",
          p.id, p.pid);
    }
    close(pidfd);
    killed.push_back(p.id);
  }
  return killed;
}

}  // namespace reporthub::hub
