// The check runner: schedules every configured check on its interval, runs at most
// `concurrency` at once (commands as polled child processes, built-ins on worker threads),
// enforces timeouts, and turns results into reports through each check's Tracker. It knows
// nothing of the hub: reports leave through a callback, and the caller's descriptors (the
// hub socket) are polled with its own so one thread serves both.
#pragma once

#include "config/config.h"
#include "inputs/check/histogram.h"
#include "inputs/check/plugin.h"
#include "inputs/check/pool.h"
#include "inputs/check/state.h"

#include <zmq.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace reporthub::inputs::check {

using Clock = std::chrono::steady_clock;

// First runs after start (and desk checks' after DeskOn) are spread over the interval, capped
// here, so a thousand checks do not all start in the same millisecond.
constexpr Duration kMaxSpread = std::chrono::seconds(60);
// A built-in that has not answered this long after its timeout is given up as UNKNOWN (a tcp
// check uses the timeout itself for its connect and reports CRITICAL first).
constexpr Duration kBuiltinGrace = std::chrono::seconds(1);

struct RunnerOptions {
  std::string node;                  // origin of the reports
  std::filesystem::path state_file;  // where states are kept across restarts; "" = nowhere
  std::filesystem::path workdir;     // plugins run here (the config file's directory); "" = ours
  Duration summary_every = std::chrono::seconds(60);
};

// Counters over a span of time: since the last summary, or since start.
struct RunStats {
  std::uint64_t started = 0;   // runs started
  std::uint64_t finished = 0;  // results handled
  std::uint64_t timed_out = 0;
  std::uint64_t skipped = 0;  // due while its previous run was still going
  std::uint64_t behind = 0;   // intervals missed entirely (the process was stalled)
  std::uint64_t reports = 0;
  Histogram lateness;  // start time minus due time of every started run
  void merge(const RunStats& o);
};

class Runner {
 public:
  // Sends one report; false if it could not (the caller logs why).
  using Submit = std::function<bool(const Report&)>;

  Runner(const config::CheckInput& cfg, RunnerOptions opts, Submit submit);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Loads saved states, logs every check's schedule and schedules the first runs.
  void start(bool desk_on);
  // Desk checks run only while the desk is on; runs in progress finish either way.
  void setDesk(bool on);
  // No run starts any more; those in progress finish (bounded by their timeouts).
  void requestStop();
  // Stop requested and no run in progress: the caller may exit.
  bool finished() const { return stopping_ && running_ == 0; }

  // One round: starts what is due, waits up to `max_wait` (less if something falls due) for
  // a run to end or any of `extra` to become ready (their revents are set), and handles
  // what ended or timed out.
  void step(std::vector<zmq::pollitem_t>& extra, Duration max_wait);

  // Logs the counters since the last summary (or, with `final`, since start) and saves the
  // states; final also marks the end of the process.
  void logSummary(bool final);

  const RunStats& totals() const;  // since start, including the current window
  std::size_t runningNow() const { return running_; }

 private:
  enum class Phase { idle, queued, running };
  struct Slot {
    const config::Check* cfg = nullptr;
    Tracker tracker;
    Duration offset{};  // of the first run after start or DeskOn
    Phase phase = Phase::idle;
    bool scheduled = false;
    Clock::time_point due{};      // next scheduled start, while scheduled
    Clock::time_point run_due{};  // due time of the run queued or in progress
    Clock::time_point started{};
    Clock::time_point deadline{};
    std::unique_ptr<CommandRun> cmd;
    std::uint64_t tag = 0;     // built-in run out on a worker
    bool worker_busy = false;  // a worker still holds this check's probe, even abandoned
    bool timed_out = false;    // past its deadline: being killed (command)
    bool again = false;        // fell due while being killed: runs once reaped
    Clock::time_point again_due{};
    bool warned_skip = false;  // the first skip is logged, later ones only counted
  };

  bool enabled(const Slot& s) const { return !stopping_ && (!s.cfg->desk || desk_on_); }
  void schedule(std::size_t i, Clock::time_point due);
  void unschedule(std::size_t i);
  void handleDue(Clock::time_point now);
  void startRun(std::size_t i, Clock::time_point now);
  void finish(std::size_t i, Result r, Clock::time_point now);
  void report(Slot& s, const Result& r, const Tracker::Decision& d, Duration took);
  void checkDeadlines(Clock::time_point now);
  void takeWorkerResults(Clock::time_point now);
  void saveStates(bool force);

  const config::CheckInput& cfg_;
  RunnerOptions opts_;
  Submit submit_;
  std::vector<Slot> slots_;
  std::set<std::pair<Clock::time_point, std::size_t>> dues_;
  std::deque<std::size_t> ready_;    // due, waiting for a free place in the pool
  std::vector<std::size_t> active_;  // running slots, in start order
  std::size_t running_ = 0;
  std::size_t concurrency_ = 1;
  bool desk_on_ = true;
  bool stopping_ = false;
  WorkerPool pool_;
  std::unordered_map<std::uint64_t, std::size_t> tags_;
  std::uint64_t next_tag_ = 1;

  Clock::time_point started_at_{};
  Clock::time_point next_summary_{};
  Clock::time_point last_save_{};
  bool dirty_ = false;
  bool save_failing_ = false;  // logged once until a save succeeds again
  RunStats window_;            // since the last summary
  mutable RunStats totals_;    // since start, up to the last summary (totals() adds window_)
  mutable RunStats totals_view_;
  std::vector<zmq::pollitem_t> items_;  // reused poll set
};

}  // namespace reporthub::inputs::check
