// The hub's main loop (DESIGN §1): one thread, one poll over the child socket, the control
// socket and a signalfd. It supervises children, accepts reports into the journal, routes
// them, delivers to outputs with credit, answers control requests from cached state, and
// runs the two-stage DMStop.
#pragma once

#include "common/lock.h"
#include "common/report.h"
#include "config/config.h"
#include "hub/journal.h"
#include "hub/supervisor.h"
#include "routing/router.h"

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

namespace reporthub::hub {

class Hub final : public SupervisorActions {
 public:
  // Reports an input may have unacknowledged at once. An acknowledgement waits for one or
  // two fdatasyncs (a few ms): the window must cover that many reports at full rate.
  static constexpr std::uint64_t kInputWindow = 16384;

  // Takes the validated config (and its text, handed to children) and the held lock.
  // Throws std::system_error if a socket or descriptor cannot be set up (exit 1).
  Hub(config::Config cfg, std::string config_text, ExclusiveLock lock);
  ~Hub() override;

  // Runs until DMStop or SIGTERM completes. Returns the process exit code.
  int run();

 private:
  enum class Phase { starting, running, stage1, stage2, done };

  // One connection on the child socket.
  struct Peer {
    std::string routing_id;
    std::string id;
    std::string role;
    pid_t pid = 0;
    wire::Kind kind = wire::Kind::input;
    std::uint32_t window = 0;
    bool supervised = false;
    std::uint64_t expected = 1;  // inputs: next submit seq
    std::uint64_t upto = 0;      // inputs: accepted or refused through this seq
    std::uint64_t acked = 0;     // inputs: what the last Ack said
    std::uint64_t refused = 0;
    bool malformed_logged = false;
    bool refused_logged = false;
  };

  // Delivery state of one channel: an output, or the link to one node.
  struct ChannelState {
    routing::Sink sink = routing::Sink::local;
    std::string process;     // supervised process id serving it ("" if not configured)
    std::string routing_id;  // its current connection, "" while it is not up
    std::uint32_t window = 0;
    std::uint64_t sent = 0;  // highest seq sent on the current connection
    std::deque<std::uint64_t> in_flight;
    std::uint64_t delivered = 0;
    std::uint64_t retries = 0;
    std::uint64_t failed = 0;
    std::string last_error;
    TimePoint retry_at{};
    int retry_streak = 0;
    bool failure_logged = false;  // a failed delivery was logged since the last success
    bool alerted = false;         // the operator was told of this run of retries
    // A link (ns_send) says when it connects and loses its node; unknown until it does.
    bool link_known = false;
    bool link_up = false;
    std::int64_t link_since_ns = 0;
    std::string link_error;
    // The connection last told to stop holding deliveries (DMStop stage 2), so it is told once.
    std::string told_flush;
  };

  // An answer that may only go out once the journal is durable up to `pos`.
  struct Deferred {
    Position pos;
    std::string routing_id;  // a child's connection (ack), or hubctl's (reply)
    bool control = false;
    std::uint64_t upto = 0;  // ack: through this seq
    std::string reply;       // control: the JSON reply
  };

  struct Counters {
    std::uint64_t accepted = 0;
    std::uint64_t delivered = 0;
    std::uint64_t unknown_category = 0;
    std::uint64_t malformed = 0;
    std::uint64_t refused = 0;
    std::uint64_t unknown_recipient = 0;  // remote reports for a recipient not defined here
    std::uint64_t circular = 0;           // remote reports refused as circular errors
  };

  pid_t spawn(const ProcessSpec& spec) override;
  void signalGroup(pid_t pid, int sig) override;

  void setupSockets();
  void setupSignals();
  void setupConfigFd();
  // A sealed memfd holding `text`, or -1 with errno set.
  static int sealedConfig(const std::string& text);
  static std::vector<ProcessSpec> processSpecs(const config::Config& cfg);
  // Validates the config file again and applies the difference (DESIGN §1 "reload").
  nlohmann::json reload(TimePoint now);
  // Acts on processes that a reload stopped to remove or to restart, once they are down.
  void finishReload(TimePoint now);

  void drainChildren(TimePoint now);
  // Returns how many reports the message submitted.
  std::size_t handleChild(std::vector<zmq::message_t>& frames, TimePoint now);
  void malformed(Peer* peer, const std::string& routing_id, const std::string& why);
  void handleSubmit(Peer& peer, const wire::Submit& m, std::string_view body);
  void handleResult(Peer& peer, const wire::Result& m, TimePoint now);
  void handleLinkState(Peer& peer, const std::string& command);
  // A report from a remote node: routed to the recipient it names, unless it went round in
  // a circle (DESIGN §2), which the operator is told in three messages.
  void acceptRemote(const wire::Submit& m, std::string_view body);
  void queueAcks(Position pos);
  void releaseDurable();
  void pumpSinks(TimePoint now);
  void connectionGone(pid_t pid);

  void drainControl(TimePoint now, std::vector<Deferred>& replies);
  nlohmann::json handleControl(const nlohmann::json& req, TimePoint now);
  nlohmann::json acceptJobReport(const nlohmann::json& req);

  // Start-up step 3: clean up after the previous run and replay or discard its backlog.
  void recoverPreviousRun();
  // A message from the hub itself to the operator console.
  void notifyOperator(Severity severity, const std::string& text);
  // Takes <state_dir>/ds.lock while DS transport is configured and lets it go once it is
  // not and no DS process is left (DESIGN §1 "Start", step 4).
  void updateDsLock(const config::Config& cfg, TimePoint now);

  void handleSignals(TimePoint now);
  void reap(TimePoint now);

  // Moves start-up and shutdown forward; true if the phase changed (call again).
  bool advance(TimePoint now);
  void beginShutdown(const std::string& why, TimePoint now);
  void setDesk(bool on, TimePoint now);
  // Starts desk-only processes DeskOn asked for, once they are down and start-up allows.
  void startDeskProcesses(TimePoint now);
  // Asks a process to stop, or kills it if that is how it stops (logscan).
  void stopProcess(const Process& p, TimePoint now);
  // Whether the process should be running now, as far as the desk is concerned.
  bool mayRun(const ProcessSpec& spec) const { return !spec.desk_only || desk_on_; }
  void broadcast(const std::string& command);
  void sendControl(const std::string& routing_id, const std::string& command);
  // How an output's retries are spaced and when the operator hears of them.
  const config::RetryPolicy& retryPolicy(routing::Sink s) const;
  // The channel an output process serves, if it is one the hub knows.
  std::optional<routing::ChannelId> channelOf(const std::string& process) const;
  // Numbers the channel of each output process in `cfg` (new ones get a number now).
  void assignChannels(const config::Config& cfg);
  std::shared_ptr<const routing::Router> makeRouter(const config::Config& cfg);

  // Names already logged, so each is logged once: unknown categories, recipients, peers.
  using LoggedOnce = std::set<std::string, std::less<>>;
  // Whether `what` is not in `logged` yet, and should be logged (remembered now; at most
  // kMaxUnknownLogged of them are, past that only counted).
  static bool firstTime(LoggedOnce& logged, std::string_view what);
  // Stores a report the hub accepted; `category` routes it.
  std::uint64_t journalReport(std::string_view id, std::string_view category,
                              std::string_view body);

  nlohmann::json status(TimePoint now) const;
  void writeStatusFile(TimePoint now);

  config::Config cfg_;
  std::string config_text_;
  ExclusiveLock lock_;
  std::optional<ExclusiveLock> ds_lock_;
  TimePoint ds_lock_retry_at_{};  // when to try again after ds.lock was busy
  bool ds_lock_failed_ = false;   // logged once per stretch of failures
  std::shared_ptr<const routing::Router> router_;
  std::shared_ptr<const routing::Route> operator_route_;  // the hub's own notices
  zmq::context_t zmq_;
  zmq::socket_t children_;
  zmq::socket_t control_;
  int signal_fd_ = -1;
  int config_fd_ = -1;
  std::string self_exe_;
  Supervisor supervisor_;
  Journal journal_;
  std::deque<Deferred> deferred_;                // in journal order
  std::unordered_map<std::string, Peer> peers_;  // by routing id
  std::array<ChannelState, routing::kMaxChannels> channels_;
  LoggedOnce unknown_categories_logged_;
  LoggedOnce unknown_recipients_logged_;
  LoggedOnce unknown_peers_logged_;  // peers without hello
  std::vector<std::string> ack_due_;
  wire::Envelope env_;                    // the message being handled; reused, as are:
  std::vector<std::string_view> bodies_;  // of the submitted batch being handled
  wire::DeliverBatch deliver_batch_;      // reused: its vectors keep their capacity
  std::string batch_body_;                // the bodies of the delivery batch being gathered
  std::size_t last_batch_body_ = 0;       // and of the one sent before, in bytes
  Counters counters_;
  Phase phase_ = Phase::starting;
  bool desk_on_ = true;
  TimePoint started_;
  std::int64_t started_wall_ns_ = 0;
  TimePoint stage_deadline_{};
  std::set<std::string> retiring_;                 // reload: remove once stopped
  std::map<std::string, ProcessSpec> restarting_;  // reload: start with this once stopped
  std::set<std::string> desk_starts_;              // DeskOn: start once stopped
  bool status_dirty_ = true;
  TimePoint status_written_{};
  std::uint64_t status_counters_ = 0;  // accepted + delivered when the file was written
};

}  // namespace reporthub::hub
