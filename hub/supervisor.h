// Supervision of the hub's child processes, written as a state x event table (see
// Supervisor::handle). It decides; the hub acts: spawning and signalling go through
// SupervisorActions, and time is handed in, so the whole policy runs under a fake clock in
// tests.
#pragma once

#include "common/spawn.h"
#include "common/wire.h"
#include "config/config.h"
#include "hub/restart_policy.h"

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace reporthub::hub {

// A role's own config with its restart policy left out: a change in it means a restart.
// An ns_send process serves one node: its settings are the output's and that node's, so
// a changed address or key restarts just that link.
struct NsLinkSettings {
  config::NsSendOutput output;
  config::Node node;
  bool operator==(const NsLinkSettings&) const = default;
};

using RoleSettings = std::variant<std::monostate, config::LocalOutput, config::TestProc,
                                  config::CheckInput, config::LogscanInput, config::PrinterOutput,
                                  config::DesksendOutput, NsLinkSettings, config::DsSendOutput,
                                  config::NsReceiveInput, config::DsReceiveInput>;

struct ProcessSpec {
  std::string id;    // unique name in status and logs: "local", "testproc:crashy"
  std::string role;  // registered role: "local", "testproc"
  wire::Kind kind = wire::Kind::input;
  std::vector<std::string> args;  // extra arguments for the role
  RoleSettings settings;
  config::RestartPolicy restart;
  bool desk_only = false;     // runs only while desk is on (logscan, desksend)
  bool kill_to_stop = false;  // DeskOff and DMStop kill it instead of asking (logscan)
  bool operator==(const ProcessSpec&) const = default;
  // Same process as far as a reload is concerned: a new restart policy alone applies in
  // place, anything else needs the process restarted.
  bool sameProcess(const ProcessSpec& o) const {
    return id == o.id && role == o.role && kind == o.kind && args == o.args &&
           settings == o.settings && desk_only == o.desk_only && kill_to_stop == o.kill_to_stop;
  }
};

enum class State { stopped, starting, running, stopping, backoff };
std::string_view toString(State s);

struct Process {
  ProcessSpec spec;
  State state = State::stopped;
  pid_t pid = 0;
  int restarts = 0;       // abnormal exits followed by a restart, since the hub started
  std::string last_exit;  // "exit 1", "signal 9 (Killed)", "" if never exited
  TimePoint started{};    // spawn time of the current instance
  TimePoint ready_at{};   // when it said ready
  TimePoint deadline{};   // backoff: restart at; starting: ready by; stopping: kill at
  bool killed = false;    // SIGKILL sent for the current instance
  RestartPolicy policy{config::RestartPolicy{}};
};

class SupervisorActions {
 public:
  virtual ~SupervisorActions() = default;
  // Starts the process; returns its pid, or -1 with errno set (counted as a crash).
  virtual pid_t spawn(const ProcessSpec& spec) = 0;
  // Sends `sig` to the process group led by `pid`.
  virtual void signalGroup(pid_t pid, int sig) = 0;
};

class Supervisor {
 public:
  // How long a new child may take to say ready before it is killed as hung.
  static constexpr Duration kReadyTimeout = std::chrono::seconds(10);

  Supervisor(SupervisorActions& actions, Duration kill_timeout)
      : actions_(actions), kill_timeout_(kill_timeout) {}

  void add(ProcessSpec spec);
  // Keeps a restarted-by-reload process's restart count in status.
  void restoreRestarts(const std::string& id, int restarts);
  // A new restart policy for a known process, effective from its next exit.
  void setRestartPolicy(const std::string& id, const config::RestartPolicy& policy);
  // Forgets a process; it must be stopped.
  void remove(const std::string& id);

  void start(const std::string& id, TimePoint now);
  // Asks the process to stop (SIGTERM to its group); SIGKILL if alive after kill_timeout.
  void stop(const std::string& id, TimePoint now);
  // SIGKILL now, for a process that must go without waiting.
  void kill(const std::string& id, TimePoint now);
  void setKillTimeout(Duration d) { kill_timeout_ = d; }

  // The child with this id and pid said ready. False if no such child is starting.
  bool ready(const std::string& id, pid_t pid, TimePoint now);
  // A child was reaped with this wait status. False if the pid is not ours.
  bool exited(pid_t pid, int wait_status, TimePoint now);
  // Acts on every deadline that has passed.
  void tick(TimePoint now);
  std::optional<TimePoint> nextDeadline() const;

  const Process* find(const std::string& id) const;
  const Process* findPid(pid_t pid) const;
  const std::map<std::string, Process>& processes() const { return processes_; }
  // True when no process of this kind is alive (stopped or waiting in backoff).
  bool noneAlive(std::optional<wire::Kind> kind = std::nullopt) const;

  // Told of every state change (after it happened), for status and logging by the hub.
  std::function<void(const Process&, State from)> on_change;

 private:
  enum class Event { start, stop, kill, ready, exited, deadline };
  static bool timed(const Process& p);
  void handle(Process& p, Event ev, TimePoint now, int wait_status = 0);
  void spawn(Process& p, TimePoint now);
  void enter(Process& p, State s);

  SupervisorActions& actions_;
  Duration kill_timeout_;
  std::map<std::string, Process> processes_;
};

}  // namespace reporthub::hub
