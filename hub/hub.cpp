// The hub's main loop; see hub.h.
#include "hub/hub.h"

#include "common/file_io.h"
#include "common/log.h"
#include "common/report.h"
#include "common/zmq_util.h"
#include "hub/recovery.h"
#include "inputs/registry.h"
#include "outputs/registry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>

namespace reporthub::hub {

namespace {

static_assert(routing::kSinkCount + config::kMaxNodes < routing::kMaxChannels,
              "every configured node needs a journal channel");

constexpr std::size_t kMaxFrames = 3;               // routing id, envelope, body
constexpr std::size_t kMaxPerRound = 8192;          // messages handled before other work
constexpr std::size_t kMaxReportsPerRound = 65536;  // reports handled before other work
// Outputs are fed while reports come in, not only after a whole round: an input that
// floods would otherwise get far more credit per round than an output gets work.
constexpr std::size_t kPumpEvery = 256;         // reports
constexpr std::size_t kMaxUnknownLogged = 100;  // distinct unknown categories logged
constexpr std::size_t kMaxControlBytes = 256 * 1024;

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

double seconds(Duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}
Duration since(TimePoint later, TimePoint earlier) {
  return std::chrono::duration_cast<Duration>(later - earlier);
}

std::string phaseName(int phase) {
  static constexpr const char* kNames[] = {"starting", "running",
                                           "stopping inputs (DMStop stage 1)",
                                           "stopping outputs (DMStop stage 2)", "stopped"};
  return kNames[phase];
}

std::optional<routing::Sink> sinkOfRole(std::string_view role) {
  for (const auto& r : outputs::registry()) {
    if (r.info.name == role) return r.sink;
  }
  return std::nullopt;
}

std::string joinPath(const std::vector<std::string>& nodes) {
  std::string out;
  for (const auto& n : nodes)
    out += (out.empty() ? "" : " -> ") + n;
  return out;
}

}  // namespace

Hub::Hub(config::Config cfg, std::string config_text, ExclusiveLock lock)
    : cfg_(std::move(cfg)),
      config_text_(std::move(config_text)),
      lock_(std::move(lock)),
      zmq_(1),
      children_(zmq_, zmq::socket_type::router),
      control_(zmq_, zmq::socket_type::router),
      self_exe_(selfExe()),
      supervisor_(*this, cfg_.kill_timeout),
      journal_(
          Journal::Options{cfg_.state_dir / "journal", 64ull << 20, 64u << 20, cfg_.journal_sync}),
      desk_on_(cfg_.desk_at_start),
      started_(Clock::now()),
      started_wall_ns_(nowNs()) {
  setupSignals();
  setupConfigFd();
  setupSockets();
  // Orphaned grandchildren (a check's plugin whose parent died) are reaped here, not by
  // init, so nothing escapes supervision.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("prctl(PR_SET_CHILD_SUBREAPER)");
  supervisor_.on_change = [this](const Process& p, State from) {
    status_dirty_ = true;
    if (from == State::running || from == State::starting) {
      if (auto c = channelOf(p.spec.id); c && p.state != State::running) {
        channels_[*c].routing_id.clear();
        channels_[*c].link_up = false;
      }
    }
  };
  // Channels of outputs no longer configured (a node taken out) go, unless reports still
  // wait in them: those stay until the node is configured again.
  std::vector<std::string> wanted;
  for (const auto& spec : processSpecs(cfg_)) {
    if (spec.kind == wire::Kind::output) wanted.push_back(spec.id);
  }
  for (const auto& kept : journal_.forgetChannels(wanted)) {
    spdlog::warn(
        "journal: reports wait for '{}', which is no longer configured; they stay in the "
        "journal until it is configured again",
        kept);
  }
  assignChannels(cfg_);
  router_ = makeRouter(cfg_);
  for (auto& spec : processSpecs(cfg_))
    supervisor_.add(std::move(spec));
}

void Hub::assignChannels(const config::Config& cfg) {
  for (const auto& spec : processSpecs(cfg)) {
    if (spec.kind != wire::Kind::output) continue;
    const auto c = journal_.channel(spec.id);
    if (!c) {
      // The loader caps the number of nodes well below the journal's channel count.
      spdlog::error("journal: no channel number left for {}; its reports go nowhere", spec.id);
      continue;
    }
    channels_[*c].process = spec.id;
    channels_[*c].sink = sinkOfRole(spec.role).value_or(routing::Sink::local);
  }
}

std::shared_ptr<const routing::Router> Hub::makeRouter(const config::Config& cfg) {
  return std::make_shared<routing::Router>(cfg, [this](const std::string& name) {
    return journal_.channel(name).value_or(routing::ChannelId{0});
  });
}

std::optional<routing::ChannelId> Hub::channelOf(const std::string& process) const {
  for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
    if (channels_[c].process == process) return static_cast<routing::ChannelId>(c);
  }
  return std::nullopt;
}

Hub::~Hub() {
  if (signal_fd_ >= 0) close(signal_fd_);
  if (config_fd_ >= 0) close(config_fd_);
}

void Hub::setupSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
    sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) fail("sigprocmask");
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) fail("signalfd");
  // A console viewer that disappears must not kill the hub.
  signal(SIGPIPE, SIG_IGN);
}

void Hub::setupConfigFd() {
  config_fd_ = sealedConfig(config_text_);
  if (config_fd_ < 0) fail("memfd for the config");
}

int Hub::sealedConfig(const std::string& text) {
  // Children read exactly the config text the hub validated, from a sealed memfd, so an
  // edit of the file on disk between validation and a restart cannot reach them.
  const int fd = memfd_create("reporthub-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (writeAll(fd, text) < text.size() ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

void Hub::setupSockets() {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.run_dir, ec);
  if (ec) {
    errno = ec.value();
    fail("mkdir " + cfg_.run_dir.string());
  }
  // Only the hub's own user may reach its sockets.
  if (chmod(cfg_.run_dir.c_str(), 0700) != 0) fail("chmod " + cfg_.run_dir.string());
  // We hold the lock, so any socket file left here belongs to a dead hub.
  for (const char* name : {"hub.sock", "control.sock", "console.sock"}) {
    std::filesystem::remove(cfg_.run_dir / name, ec);
  }
  for (zmq::socket_t* s : {&children_, &control_}) {
    zmqu::configure(*s, 1'000'000, std::chrono::milliseconds(0));
    // Never drop silently: a send to a vanished peer or at the high-water mark fails loudly.
    s->set(zmq::sockopt::router_mandatory, 1);
  }
  // Belt and braces with the 0700 run_dir: the kernel's peer credentials must show our uid.
  const int uid = static_cast<int>(getuid());
  for (zmq::socket_t* s : {&control_, &children_}) {
    if (zmq_setsockopt(s->handle(), ZMQ_IPC_FILTER_UID, &uid, sizeof uid) != 0) {
      spdlog::warn("cannot filter ipc peers by uid ({}); relying on run_dir permissions (0700)",
                   zmq_strerror(zmq_errno()));
    }
  }
  try {
    children_.bind(cfg_.childEndpoint());
    control_.bind(cfg_.controlEndpoint());
  } catch (const zmq::error_t& e) {
    errno = e.num();
    fail("bind in " + cfg_.run_dir.string());
  }
}

std::vector<ProcessSpec> Hub::processSpecs(const config::Config& cfg) {
  // Each spec carries its role's config without the restart policy, so a reload can tell a
  // changed process (restart) from a changed policy (applied in place).
  auto settingsOf = [](auto section) {
    section.restart.reset();
    return RoleSettings(std::move(section));
  };
  auto policy = [&](const auto& section) { return section.restart.value_or(cfg.restart); };
  std::vector<ProcessSpec> specs;
  auto add = [&](std::string id, std::string role, wire::Kind kind, const auto& section) {
    ProcessSpec spec;
    spec.id = std::move(id);
    spec.role = std::move(role);
    spec.kind = kind;
    spec.settings = settingsOf(section);
    spec.restart = policy(section);
    specs.push_back(std::move(spec));
    return &specs.back();
  };
  const auto& out = cfg.outputs;
  add("local", "local", wire::Kind::output, out.local);
  if (out.printer) add("printer", "printer", wire::Kind::output, *out.printer);
  if (out.desksend)
    add("desksend", "desksend", wire::Kind::output, *out.desksend)->desk_only = true;
  // One link per destination node, each its own process, so one node that is down or slow
  // holds up nobody else.
  for (const auto& [node, n] : cfg.nodes) {
    NsLinkSettings link{out.ns_send, n};
    link.output.restart.reset();
    ProcessSpec spec;
    spec.id = "ns_send:" + node;
    spec.role = "ns_send";
    spec.kind = wire::Kind::output;
    spec.settings = std::move(link);
    spec.restart = policy(out.ns_send);
    spec.args = {node};
    specs.push_back(std::move(spec));
  }
  if (out.ds_send) add("ds_send", "ds_send", wire::Kind::output, *out.ds_send);
  const auto& in = cfg.inputs;
  if (in.ns_receive) add("ns_receive", "ns_receive", wire::Kind::input, *in.ns_receive);
  if (in.ds_receive) add("ds_receive", "ds_receive", wire::Kind::input, *in.ds_receive);
  if (in.check) add("check", "check", wire::Kind::input, *in.check);
  if (in.logscan) {
    ProcessSpec* logscan = add("logscan", "logscan", wire::Kind::input, *in.logscan);
    logscan->desk_only = true;
    logscan->kill_to_stop = true;  // its offsets are saved as it goes: nothing to finish
  }
  for (const auto& t : in.testproc) {
    add("testproc:" + t.name, "testproc", wire::Kind::input, t)->args = {t.name};
  }
  return specs;
}

pid_t Hub::spawn(const ProcessSpec& spec) {
  std::vector<std::string> argv{self_exe_,
                                "child",
                                spec.role,
                                "--hub",
                                cfg_.childEndpoint(),
                                "--id",
                                spec.id,
                                "--config",
                                cfg_.file.string(),
                                "--config-fd",
                                "3"};
  for (const auto& a : spec.args)
    argv.push_back(a);
  SpawnOptions opts;
  opts.pass = {config_fd_};
  const pid_t pid = spawnChild(argv, opts);
  if (pid > 0) spdlog::info("started {} (pid {})", spec.id, pid);
  return pid;
}

void Hub::signalGroup(pid_t pid, int sig) {
  if (pid > 0 && ::kill(-pid, sig) != 0 && errno != ESRCH) {
    spdlog::warn("kill(-{}, {}): {}", pid, sig, strerror(errno));
  }
}

void Hub::recoverPreviousRun() {
  const PreviousRun prev = readPreviousRun(cfg_.state_dir / "status.json");
  const auto killed = killLeftovers(prev, self_exe_);
  const auto& rec = journal_.recovery();
  std::uint64_t pending = rec.pending;
  const bool discard = cfg_.pending == config::Pending::discard && pending > 0;
  if (discard) journal_.discardPending();
  const std::string what = discard ? "discarded (startup.pending: discard)" : "replayed";
  std::string notice;
  if (prev.abnormal) {
    notice = "the previous run" +
             (prev.hub_pid ? " (pid " + std::to_string(prev.hub_pid) + ")" : std::string()) +
             " ended abnormally; " + std::to_string(killed.size()) + " leftover process" +
             (killed.size() == 1 ? "" : "es") + " cleaned up; " + std::to_string(pending) +
             " undelivered report" + (pending == 1 ? "" : "s") + " " + what;
  } else if (pending > 0) {
    notice = std::to_string(pending) + " undelivered report" + (pending == 1 ? "" : "s") +
             " from the previous run " + what;
  }
  if (rec.torn_bytes > 0) {
    notice += (notice.empty() ? "" : "; ") + std::to_string(rec.torn_bytes) +
              " bytes of an incomplete journal write dropped (never acknowledged)";
  }
  if (notice.empty()) return;
  spdlog::warn("{}", notice);
  notifyOperator(prev.abnormal ? Severity::warning : Severity::info, notice);
}

void Hub::updateDsLock(const config::Config& cfg, TimePoint now) {
  if (cfg.hasDs() && !ds_lock_) {
    if (now < ds_lock_retry_at_) return;
    ds_lock_retry_at_ = now + std::chrono::seconds(1);
    const auto path = cfg.dsLockPath();
    std::string why = "another process holds it";
    try {
      ds_lock_ = ExclusiveLock::acquire(path);
    } catch (const std::system_error& e) {
      why = e.what();
    }
    if (ds_lock_ && ds_lock_failed_) spdlog::info("took {}; DS transport available", path.string());
    if (!ds_lock_ && !ds_lock_failed_) {
      spdlog::error(
          "cannot take {}: {}; ds_receive and ds_send exit without it; trying again every "
          "second",
          path.string(), why);
    }
    ds_lock_failed_ = !ds_lock_;
    return;
  }
  if (cfg.hasDs() || !ds_lock_) return;
  for (const auto& [id, p] : supervisor_.processes()) {
    if ((p.spec.role == "ds_receive" || p.spec.role == "ds_send") && p.state != State::stopped)
      return;
  }
  ds_lock_.reset();
  spdlog::info("DS transport no longer configured; {} released", cfg.dsLockPath().string());
}

void Hub::notifyOperator(Severity severity, const std::string& text) {
  if (!operator_route_) {
    const routing::ChannelId local = channelOf("local").value_or(0);
    auto route = std::make_shared<routing::Route>();
    route->recipients = {"operator"};
    route->sinks = {
        routing::SinkDelivery{routing::Sink::local, local, {wire::Target{"operator", {}}}}};
    route->channel_mask = routing::channelBit(local);
    operator_route_ = std::move(route);
  }
  Report r;
  r.id = newReportId();
  r.ts_ns = nowNs();
  r.origin = cfg_.node;
  r.source = "hub";
  r.category = "REPORTHUB";
  r.severity = severity;
  r.text = text;
  const std::string body = encodeReport(r);
  journal_.append(r.id, operator_route_, body);
}

int Hub::run() {
  spdlog::info("hub {} started (pid {}, config {}, desk {})", cfg_.node, getpid(),
               cfg_.file.string(), desk_on_ ? "on" : "off");
  recoverPreviousRun();
  TimePoint now = Clock::now();
  updateDsLock(cfg_, now);
  for (const auto& [id, p] : supervisor_.processes()) {
    if (p.spec.kind == wire::Kind::output && mayRun(p.spec)) supervisor_.start(id, now);
  }
  std::vector<zmq::pollitem_t> items{{children_.handle(), 0, ZMQ_POLLIN, 0},
                                     {control_.handle(), 0, ZMQ_POLLIN, 0},
                                     {nullptr, signal_fd_, ZMQ_POLLIN, 0},
                                     {nullptr, journal_.syncFd(), ZMQ_POLLIN, 0}};
  std::vector<Deferred> replies;
  while (phase_ != Phase::done) {
    Duration timeout = std::chrono::seconds(1);
    if (auto d = supervisor_.nextDeadline()) timeout = std::min(timeout, since(*d, now));
    for (const auto& c : channels_) {
      if (c.retry_at > now) timeout = std::min(timeout, since(c.retry_at, now));
    }
    if (phase_ == Phase::stage1 || phase_ == Phase::stage2) {
      timeout = std::min(timeout, std::max(Duration(0), since(stage_deadline_, now)));
    }
    zmqu::poll(items, std::max(timeout, Duration(0)));
    now = Clock::now();
    if (items[2].revents & ZMQ_POLLIN) handleSignals(now);
    if (items[3].revents & ZMQ_POLLIN) journal_.clearSyncEvent();
    drainChildren(now);
    drainControl(now, replies);
    // Group commit: everything accepted this round goes to the file in one write; the sync
    // thread makes it durable, and only then are submitters told (releaseDurable).
    const Position written = journal_.flush();
    queueAcks(written);
    for (auto& r : replies) {
      r.pos = written;
      deferred_.push_back(std::move(r));
    }
    replies.clear();
    releaseDurable();
    pumpSinks(now);
    supervisor_.tick(now);
    finishReload(now);
    startDeskProcesses(now);
    while (advance(now)) {
    }
    // State changes are written at once; counters at most once a second.
    if (status_dirty_ || (counters_.accepted + counters_.delivered != status_counters_ &&
                          now - status_written_ >= std::chrono::seconds(1))) {
      writeStatusFile(now);
    }
  }
  journal_.flush();
  journal_.syncNow();
  ds_lock_.reset();
  writeStatusFile(now);
  std::error_code ec;
  for (const char* name : {"hub.sock", "control.sock"}) {
    std::filesystem::remove(cfg_.run_dir / name, ec);
  }
  spdlog::info("hub {} stopped after {:.3f}s; the job logs off", cfg_.node,
               seconds(since(Clock::now(), started_)));
  lock_.release();
  return 0;
}

// ---- children -------------------------------------------------------------------------

void Hub::drainChildren(TimePoint now) {
  std::vector<zmq::message_t> frames;
  bool overflow = false;
  std::size_t reports = 0, since_pump = 0;
  for (std::size_t i = 0; i < kMaxPerRound && reports < kMaxReportsPerRound &&
                          zmqu::recvMultipart(children_, frames, kMaxFrames, overflow);
       ++i) {
    if (overflow) {
      malformed(nullptr, std::string(zmqu::view(frames[0])), "too many frames");
      continue;
    }
    const std::size_t n = handleChild(frames, now);
    reports += n;
    since_pump += std::max<std::size_t>(n, 1);
    if (since_pump >= kPumpEvery) {
      pumpSinks(now);
      since_pump = 0;
    }
  }
}

void Hub::malformed(Peer* peer, const std::string& routing_id, const std::string& why) {
  ++counters_.malformed;
  if (peer && peer->malformed_logged) return;
  if (peer) peer->malformed_logged = true;
  // A peer that never said hello has no Peer entry: remember a bounded number of them so a
  // stream of garbage is logged once per connection, and past the bound only counted.
  if (!peer && !firstTime(unknown_peers_logged_, routing_id)) return;
  spdlog::warn(
      "malformed message from {} ({}): {}; dropped and counted (further ones from this "
      "peer are only counted)",
      peer ? peer->id : "unknown peer", printable(routing_id), why);
}

std::size_t Hub::handleChild(std::vector<zmq::message_t>& frames, TimePoint now) {
  std::string routing_id(zmqu::view(frames[0]));
  auto it = peers_.find(routing_id);
  Peer* peer = it == peers_.end() ? nullptr : &it->second;
  if (frames.size() < 2) {
    malformed(peer, routing_id, "no envelope");
    return 0;
  }
  wire::Envelope& env = env_;
  if (auto err = wire::decode(zmqu::view(frames[1]), env); !err.empty()) {
    malformed(peer, routing_id, err);
    return 0;
  }
  if (wire::hasBody(env) != (frames.size() == 3)) {
    malformed(peer, routing_id, "body frame mismatch");
    return 0;
  }

  if (auto* hello = std::get_if<wire::Hello>(&env)) {
    Peer p;
    p.routing_id = routing_id;
    p.id = hello->id;
    p.role = hello->role;
    p.pid = static_cast<pid_t>(hello->pid);
    p.kind = hello->kind;
    p.window = std::clamp<std::uint32_t>(hello->window, 1, 65536);
    const Process* proc = supervisor_.find(hello->id);
    p.supervised = proc && proc->pid == p.pid;
    if (!p.supervised && p.kind == wire::Kind::output) {
      spdlog::warn("output '{}' (pid {}) connected but is not one the hub started; refused",
                   hello->id, hello->pid);
      ++counters_.refused;
      return 0;
    }
    if (!p.supervised) spdlog::info("external input '{}' (pid {}) attached", p.id, p.pid);
    wire::Welcome w{p.kind == wire::Kind::input ? kInputWindow : 0, desk_on_};
    std::vector<zmq::message_t> out;
    out.emplace_back(routing_id.data(), routing_id.size());
    const std::string env_bytes = wire::encode(w);
    out.emplace_back(env_bytes.data(), env_bytes.size());
    int err = 0;
    zmqu::sendMultipart(children_, out, err);
    peers_[routing_id] = std::move(p);
    return 0;
  }
  if (!peer) {
    malformed(nullptr, routing_id, "message before hello");
    return 0;
  }

  if (std::holds_alternative<wire::Ready>(env)) {
    if (peer->supervised && supervisor_.ready(peer->id, peer->pid, now) &&
        peer->kind == wire::Kind::output) {
      if (auto c = channelOf(peer->id)) {
        ChannelState& st = channels_[*c];
        st.routing_id = routing_id;
        st.window = peer->window;
        journal_.rewind(*c);  // a new instance gets everything unacknowledged again
      }
    }
  } else if (auto* sub = std::get_if<wire::Submit>(&env)) {
    handleSubmit(*peer, *sub, zmqu::view(frames[2]));
    return 1;
  } else if (auto* batch = std::get_if<wire::SubmitBatch>(&env)) {
    if (!wire::splitBodies(zmqu::view(frames[2]), batch->sizes, bodies_)) {
      malformed(peer, routing_id, "batch bodies do not match their sizes");
      return 0;
    }
    for (std::size_t i = 0; i < bodies_.size(); ++i)
      handleSubmit(*peer, batch->reports[i], bodies_[i]);
    return bodies_.size();
  } else if (auto* res = std::get_if<wire::Result>(&env)) {
    handleResult(*peer, *res, now);
  } else if (auto* ctl = std::get_if<wire::Control>(&env);
             ctl && peer->kind == wire::Kind::output && peer->supervised) {
    handleLinkState(*peer, ctl->command);
  } else {
    malformed(peer, routing_id, std::string("unexpected ") + std::string(wire::name(env)));
  }
  return 0;
}

bool Hub::firstTime(LoggedOnce& logged, std::string_view what) {
  // Looked up before inserting: a stream of reports with the same unknown name is the
  // common case, and must not build a string per report.
  if (logged.contains(what) || logged.size() >= kMaxUnknownLogged) return false;
  logged.emplace(what);
  return true;
}

std::uint64_t Hub::journalReport(std::string_view id, std::string_view category,
                                 std::string_view body) {
  bool is_default = false;
  const routing::Route& route = router_->route(category, is_default);
  if (is_default) {
    ++counters_.unknown_category;
    if (firstTime(unknown_categories_logged_, category)) {
      spdlog::info("unknown category '{}': routed to categories.default (counted; logged once)",
                   category);
    }
  }
  ++counters_.accepted;
  // Aliasing: the entry keeps the whole routing table alive, so a reload can swap tables
  // while older reports finish by the rules they were accepted under.
  return journal_.append(id, std::shared_ptr<const routing::Route>(router_, &route), body);
}

void Hub::handleSubmit(Peer& peer, const wire::Submit& m, std::string_view body) {
  if (peer.kind != wire::Kind::input)
    return malformed(&peer, peer.routing_id, "submit from an output");
  if (m.seq != peer.expected) {
    return malformed(
        &peer, peer.routing_id,
        "submit seq " + std::to_string(m.seq) + ", expected " + std::to_string(peer.expected));
  }
  if (m.seq > peer.acked + kInputWindow)
    return malformed(&peer, peer.routing_id, "submit beyond credit");
  ++peer.expected;
  peer.upto = m.seq;
  if (ack_due_.empty() || ack_due_.back() != peer.routing_id) ack_due_.push_back(peer.routing_id);
  if (body.size() > wire::kMaxBodyBytes || m.category.empty() || !validReportId(m.id)) {
    ++peer.refused;
    ++counters_.refused;
    if (!peer.refused_logged) {
      peer.refused_logged = true;
      spdlog::warn(
          "refused report {} from {}: {}; not journaled, counted (further refusals from this "
          "input are only counted)",
          printable(m.id), peer.id,
          body.size() > wire::kMaxBodyBytes ? "larger than the body limit"
                                            : "invalid id or empty category");
    }
    return;
  }
  if (!m.recipient.empty()) return acceptRemote(m, body);
  journalReport(m.id, m.category, body);
}

void Hub::acceptRemote(const wire::Submit& m, std::string_view body) {
  const std::string problem = routing::relayProblem(m.via, cfg_.node, cfg_.max_hops);
  if (!problem.empty()) {
    // Not forwarded again: the operator here gets the notice, the report and its route.
    ++counters_.circular;
    Report r;
    const std::string err = decodeReport(body, r);
    const std::string from = m.via.empty() ? std::string("?") : m.via.back();
    spdlog::warn("circular error: report {} from {} for recipient '{}': {}; not forwarded",
                 printable(m.id), printable(from), printable(m.recipient), problem);
    notifyOperator(Severity::error, "circular route: report " + m.id + " for recipient '" +
                                        m.recipient + "' " + problem + "; not forwarded again");
    notifyOperator(Severity::error, err.empty()
                                        ? "original report: origin " + r.origin + ", category " +
                                              r.category + ", " +
                                              std::string(toString(r.severity)) + ": " + r.text
                                        : "original report: undecodable (" + err + ")");
    std::vector<std::string> path = m.via;
    path.push_back(cfg_.node);
    notifyOperator(Severity::error, "route travelled: " + joinPath(path));
    return;
  }
  const routing::Route* route = router_->recipient(m.recipient);
  if (!route) {
    ++counters_.unknown_recipient;
    if (firstTime(unknown_recipients_logged_, m.recipient)) {
      spdlog::warn(
          "report from {} names recipient '{}', which this node does not define; routed by "
          "its category instead (counted; logged once)",
          m.via.empty() ? std::string("?") : printable(m.via.back()), printable(m.recipient));
    }
    journalReport(m.id, m.category, body);
    return;
  }
  ++counters_.accepted;
  journal_.append(m.id, std::shared_ptr<const routing::Route>(router_, route), body);
}

void Hub::handleLinkState(Peer& peer, const std::string& command) {
  auto c = channelOf(peer.id);
  if (!c || channels_[*c].routing_id != peer.routing_id) return;
  ChannelState& st = channels_[*c];
  const bool up = command == "link-up";
  if (!up && !command.starts_with("link-down")) {
    return malformed(&peer, peer.routing_id, "unexpected control '" + printable(command) + "'");
  }
  if (!st.link_known || st.link_up != up) st.link_since_ns = nowNs();
  st.link_known = true;
  st.link_up = up;
  if (!up) {
    st.link_error = command.size() > 11 ? command.substr(11) : "link lost";
    spdlog::warn("{}: link down: {}; its reports wait in the journal", peer.id, st.link_error);
  } else {
    spdlog::info("{}: link up", peer.id);
    // The node is back: what waits for it goes now, not when the retry pause ends.
    st.retry_at = TimePoint{};
  }
  status_dirty_ = true;
}

void Hub::queueAcks(Position pos) {
  for (const auto& rid : ack_due_) {
    auto it = peers_.find(rid);
    if (it == peers_.end()) continue;
    Deferred d;
    d.pos = pos;
    d.routing_id = rid;
    d.upto = it->second.upto;
    deferred_.push_back(std::move(d));
  }
  ack_due_.clear();
}

void Hub::releaseDurable() {
  const Position durable = journal_.durable();
  while (!deferred_.empty() && deferred_.front().pos <= durable) {
    Deferred& d = deferred_.front();
    std::vector<zmq::message_t> out;
    out.emplace_back(d.routing_id.data(), d.routing_id.size());
    int err = 0;
    if (d.control) {
      out.emplace_back(d.reply.data(), d.reply.size());
      zmqu::sendMultipart(control_, out, err);  // a client that left gets nothing: fine
    } else if (auto it = peers_.find(d.routing_id);
               it != peers_.end() && d.upto > it->second.acked) {
      Peer& p = it->second;
      const auto env = wire::encodeView(wire::Ack{d.upto, d.upto + kInputWindow, p.refused});
      out.emplace_back(env.data(), env.size());
      if (zmqu::sendMultipart(children_, out, err)) p.acked = d.upto;
    }
    deferred_.pop_front();
  }
}

void Hub::handleResult(Peer& peer, const wire::Result& m, TimePoint now) {
  auto c = channelOf(peer.id);
  if (!c || channels_[*c].routing_id != peer.routing_id) {
    return malformed(&peer, peer.routing_id, "result from an output that is not serving");
  }
  ChannelState& st = channels_[*c];
  const std::uint64_t before = journal_.backlog(*c);
  journal_.ack(*c, m.upto);
  const std::uint64_t delivered = before - journal_.backlog(*c);
  st.delivered += delivered;
  counters_.delivered += delivered;
  if (m.status == wire::Status::ok) {
    if (st.alerted) {
      notifyOperator(Severity::info, peer.id + " is delivering again after " +
                                         std::to_string(st.retry_streak) +
                                         " failed attempts; the reports that waited follow");
    }
    st.retry_streak = 0;
    st.alerted = false;
    st.failure_logged = false;
  } else if (m.status == wire::Status::failed) {
    ++st.failed;
    st.last_error = m.reason;
    if (!st.failure_logged) {
      st.failure_logged = true;
      const std::string what = peer.id +
                               ": a report could not be delivered and will not be "
                               "retried: " +
                               m.reason;
      spdlog::error(
          "{} (seq {}; counted; further failures are only counted until a delivery "
          "succeeds)",
          what, m.seq);
      if (st.sink != routing::Sink::local) notifyOperator(Severity::error, what);
    }
    journal_.ack(*c, m.seq);
  } else {
    ++st.retries;
    st.last_error = m.reason;
    const config::RetryPolicy& policy = retryPolicy(st.sink);
    Duration pause = policy.first;
    for (int i = 0; i < st.retry_streak && pause < policy.max; ++i)
      pause *= 2;
    pause = std::min(pause, policy.max);
    ++st.retry_streak;
    st.retry_at = now + pause;
    journal_.rewind(*c);
    spdlog::warn("{}: delivery needs a retry ({}); the reports wait in the journal, next try in {}",
                 peer.id, m.reason, formatDuration(pause));
    // Said once per outage, after enough failures in a row that it is not a blip.
    if (!st.alerted && st.retry_streak >= policy.alert_after) {
      st.alerted = true;
      notifyOperator(Severity::warning,
                     peer.id + " has failed " + std::to_string(st.retry_streak) +
                         " delivery attempts in a row (last: " + m.reason +
                         "); its reports wait in the journal and are retried every " +
                         formatDuration(policy.max) + " at most");
    }
  }
}

const config::RetryPolicy& Hub::retryPolicy(routing::Sink s) const {
  static const config::RetryPolicy kDefault;
  if (s == routing::Sink::printer && cfg_.outputs.printer) return cfg_.outputs.printer->retry;
  if (s == routing::Sink::desksend && cfg_.outputs.desksend) return cfg_.outputs.desksend->retry;
  if (s == routing::Sink::ns_send) return cfg_.outputs.ns_send.retry;
  if (s == routing::Sink::ds_send && cfg_.outputs.ds_send) return cfg_.outputs.ds_send->retry;
  return kDefault;
}

void Hub::pumpSinks(TimePoint now) {
  for (std::size_t i = 0; i < routing::kMaxChannels; ++i) {
    ChannelState& st = channels_[i];
    const auto c = static_cast<routing::ChannelId>(i);
    if (st.routing_id.empty() || st.retry_at > now) continue;
    // Batches of what is waiting, as much as the output's window allows.
    wire::DeliverBatch& batch = deliver_batch_;
    while (journal_.inFlight(c) < st.window) {
      // The deliveries are assigned over, not rebuilt: their strings keep their capacity.
      std::size_t n = 0, envelope = 0;
      batch.sizes.clear();
      // The bodies are gathered in a buffer of their own that the message then takes over.
      batch_body_.clear();
      batch_body_.reserve(wire::batchBodyReserve(last_batch_body_));
      while (n < wire::kMaxBatch && batch_body_.size() < wire::kBatchBodyBytes &&
             envelope < wire::kBatchEnvelopeBytes && journal_.inFlight(c) < st.window) {
        const Entry* e = journal_.next(c);
        if (!e) break;
        if (n == batch.deliveries.size()) batch.deliveries.emplace_back();
        wire::Deliver& d = batch.deliveries[n++];
        d.seq = e->seq;
        d.id.assign(e->id);
        for (const auto& sd : e->route->sinks) {
          if (sd.channel == c) d.targets = sd.targets;
        }
        envelope += wire::batchBytes(d);
        batch.sizes.push_back(static_cast<std::uint32_t>(e->body.size()));
        batch_body_ += e->body;
      }
      batch.deliveries.resize(n);
      if (n == 0) break;
      std::vector<zmq::message_t> out;
      out.emplace_back(st.routing_id.data(), st.routing_id.size());
      const auto env = wire::encodeView(batch);
      out.emplace_back(env.data(), env.size());
      last_batch_body_ = batch_body_.size();
      out.push_back(zmqu::take(std::move(batch_body_)));
      int err = 0;
      if (!zmqu::sendMultipart(children_, out, err)) {
        for (std::size_t i = 0; i < batch.deliveries.size(); ++i)
          journal_.unread(c);
        if (err == EHOSTUNREACH) st.routing_id.clear();  // gone; it comes back through Ready
        break;
      }
    }
  }
}

void Hub::connectionGone(pid_t pid) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.pid == pid) {
      for (auto& st : channels_) {
        if (st.routing_id == it->first) st.routing_id.clear();
      }
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- signals --------------------------------------------------------------------------

void Hub::handleSignals(TimePoint now) {
  signalfd_siginfo info;
  bool child = false;
  while (read(signal_fd_, &info, sizeof info) == sizeof info) {
    switch (info.ssi_signo) {
      case SIGCHLD:
        child = true;
        break;
      case SIGTERM:
        beginShutdown("SIGTERM", now);
        break;
      case SIGINT:
        beginShutdown("SIGINT", now);
        break;
      case SIGHUP:
        if (phase_ == Phase::starting || phase_ == Phase::running) {
          spdlog::info("SIGHUP: reloading {}", cfg_.file.string());
          reload(now);  // logs its outcome
        }
        break;
    }
  }
  if (child) reap(now);
}

void Hub::reap(TimePoint now) {
  // Many SIGCHLDs coalesce into one signalfd record: reap until nothing is left.
  for (;;) {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    connectionGone(pid);
    supervisor_.exited(pid, st, now);  // false for reaped orphans: nothing to do
  }
}

// ---- phases and DMStop ----------------------------------------------------------------

bool Hub::advance(TimePoint now) {
  const auto& procs = supervisor_.processes();
  const Phase before = phase_;
  switch (phase_) {
    case Phase::starting: {
      // Outputs first, so the first report an input sends has somewhere to go.
      const bool outputs_settled = std::none_of(procs.begin(), procs.end(), [](const auto& kv) {
        return kv.second.spec.kind == wire::Kind::output && kv.second.state == State::starting;
      });
      if (!outputs_settled) break;
      for (const auto& [id, p] : procs) {
        if (p.spec.kind == wire::Kind::input && mayRun(p.spec)) supervisor_.start(id, now);
      }
      phase_ = Phase::running;
      status_dirty_ = true;
      std::string down;
      for (const auto& [id, p] : procs) {
        if (p.spec.kind == wire::Kind::output && p.state != State::running && mayRun(p.spec)) {
          down += (down.empty() ? "" : ", ") + id + " (" + std::string(toString(p.state)) + ")";
        }
      }
      if (down.empty()) {
        spdlog::info("outputs up; starting inputs");
      } else {
        spdlog::warn(
            "outputs not up: {}; starting inputs anyway, reports for them wait in the "
            "journal",
            down);
      }
      break;
    }
    case Phase::running:
    case Phase::done:
      break;
    case Phase::stage1:
      if (supervisor_.noneAlive(wire::Kind::input)) {
        phase_ = Phase::stage2;
        stage_deadline_ = now + cfg_.kill_timeout;
        status_dirty_ = true;
        spdlog::info(
            "DMStop stage 1 complete: inputs stopped; stage 2: stopping outputs after "
            "they drain");
      }
      break;
    case Phase::stage2: {
      // ns_send goes before ds_send (DESIGN §1): reports a link still forwards finish first.
      const bool links_down = std::none_of(procs.begin(), procs.end(), [](const auto& kv) {
        return kv.second.spec.role == "ns_send" && kv.second.state != State::stopped;
      });
      for (const auto& [id, p] : procs) {
        if (p.spec.kind != wire::Kind::output) continue;
        if (p.spec.role == "ds_send" && !links_down) continue;
        const auto c = channelOf(id);
        const std::uint64_t backlog = c ? journal_.backlog(*c) : 0;
        if (p.state == State::backoff) {
          if (backlog > 0) {
            spdlog::warn(
                "{} is down ({}); its {} undelivered reports stay in the journal and "
                "are delivered after the next start",
                id, p.last_exit, backlog);
          }
          supervisor_.stop(id, now);
        }
        if (p.state != State::running && p.state != State::starting) continue;
        // An output that cannot deliver now (not connected, waiting to retry, or a link
        // whose node is unreachable) is not waited for: its reports keep in the journal.
        ChannelState* st = c ? &channels_[*c] : nullptr;
        std::string stuck;
        if (st && st->routing_id.empty()) {
          stuck = "is not connected";
        } else if (st && st->retry_at > now) {
          stuck = "is waiting to retry (" + st->last_error + ")";
        } else if (st && st->link_known && !st->link_up) {
          stuck = "cannot reach its node (" + st->link_error + ")";
        }
        // An output may hold what it was sent (a printer's batch interval) until told that
        // no more is coming; it then answers for all of it and counts as drained.
        if (backlog > 0 && stuck.empty() && st && st->told_flush != st->routing_id) {
          sendControl(st->routing_id, "flush");
          st->told_flush = st->routing_id;
        }
        if (backlog == 0 || !stuck.empty()) {
          if (backlog > 0) {
            spdlog::warn(
                "{} {}; its {} undelivered reports stay in the journal and are delivered "
                "after the next start",
                id, stuck, backlog);
          } else {
            spdlog::info("asking {} (pid {}) to stop (drained)", id, p.pid);
          }
          supervisor_.stop(id, now);
        } else if (now >= stage_deadline_) {
          spdlog::warn("{} (pid {}) did not drain within {} ({} reports undelivered); killed", id,
                       p.pid, formatDuration(cfg_.kill_timeout), backlog);
          supervisor_.kill(id, now);
        }
      }
      if (supervisor_.noneAlive()) {
        phase_ = Phase::done;
        status_dirty_ = true;
      }
      break;
    }
  }
  return phase_ != before;
}

void Hub::beginShutdown(const std::string& why, TimePoint now) {
  if (phase_ == Phase::stage1 || phase_ == Phase::stage2 || phase_ == Phase::done) return;
  phase_ = Phase::stage1;
  stage_deadline_ = now + cfg_.kill_timeout;
  status_dirty_ = true;
  desk_starts_.clear();
  std::string names;
  for (const auto& [id, p] : supervisor_.processes()) {
    if (p.spec.kind != wire::Kind::input) continue;
    names += (names.empty() ? "" : ", ") + id + (p.spec.kill_to_stop ? " (killed)" : "");
    stopProcess(p, now);
  }
  spdlog::info("DMStop ({}): stage 1: stopping inputs: {}", why, names.empty() ? "none" : names);
}

void Hub::setDesk(bool on, TimePoint now) {
  if (desk_on_ == on) return;
  desk_on_ = on;
  status_dirty_ = true;
  spdlog::info("desk {}", on ? "on (DeskOn)" : "off (DeskOff)");
  broadcast(on ? "deskon" : "deskoff");
  // Desk-only processes follow the desk. One still stopping from the last DeskOff is started
  // once it is down (startDeskProcesses).
  for (const auto& [id, p] : supervisor_.processes()) {
    if (!p.spec.desk_only || retiring_.contains(id) || restarting_.contains(id)) continue;
    if (on) {
      desk_starts_.insert(id);
    } else {
      desk_starts_.erase(id);
      if (p.state != State::stopped && p.state != State::stopping) {
        spdlog::info("DeskOff: {} {}", p.spec.kill_to_stop ? "killing" : "stopping", id);
        stopProcess(p, now);
      }
    }
  }
  startDeskProcesses(now);
}

void Hub::startDeskProcesses(TimePoint now) {
  // Inputs wait for start-up to reach them; outputs may start at once.
  for (auto it = desk_starts_.begin(); it != desk_starts_.end();) {
    const Process* p = supervisor_.find(*it);
    if (!p || !desk_on_) {
      it = desk_starts_.erase(it);
      continue;
    }
    const bool may_start = phase_ == Phase::running ||
                           (phase_ == Phase::starting && p->spec.kind == wire::Kind::output);
    if (p->state == State::stopped && may_start) {
      spdlog::info("DeskOn: starting {}", *it);
      supervisor_.start(*it, now);
      it = desk_starts_.erase(it);
    } else if (p->state != State::stopped && p->state != State::stopping) {
      it = desk_starts_.erase(it);  // already up
    } else {
      ++it;
    }
  }
}

void Hub::stopProcess(const Process& p, TimePoint now) {
  if (p.spec.kill_to_stop) {
    supervisor_.kill(p.spec.id, now);
  } else {
    supervisor_.stop(p.spec.id, now);
  }
}

void Hub::broadcast(const std::string& command) {
  for (const auto& [rid, p] : peers_) {
    if (p.supervised) sendControl(rid, command);
  }
}

void Hub::sendControl(const std::string& routing_id, const std::string& command) {
  const std::string env = wire::encode(wire::Control{command});
  std::vector<zmq::message_t> out;
  out.emplace_back(routing_id.data(), routing_id.size());
  out.emplace_back(env.data(), env.size());
  int err = 0;
  zmqu::sendMultipart(children_, out, err);
}

// ---- control --------------------------------------------------------------------------

void Hub::drainControl(TimePoint now, std::vector<Deferred>& replies) {
  std::vector<zmq::message_t> frames;
  bool overflow = false;
  while (zmqu::recvMultipart(control_, frames, 2, overflow)) {
    nlohmann::json reply;
    bool accepted_report = false;
    if (overflow || frames.size() != 2 || frames[1].size() > kMaxControlBytes) {
      ++counters_.malformed;
      reply = {{"ok", false}, {"code", 2}, {"message", "malformed control request"}};
    } else {
      auto req = nlohmann::json::parse(zmqu::view(frames[1]), nullptr, false);
      if (req.is_discarded() || !req.is_object() || !req.contains("cmd") ||
          !req["cmd"].is_string()) {
        ++counters_.malformed;
        reply = {{"ok", false}, {"code", 2}, {"message", "malformed control request"}};
      } else {
        reply = handleControl(req, now);
        accepted_report = req["cmd"] == "report" && reply.value("ok", false);
      }
    }
    // An accepted report is answered only once it is on disk; everything else at once, so
    // status and DMStop work even while the disk does not.
    Deferred d;
    d.control = true;
    d.routing_id = std::string(zmqu::view(frames[0]));
    d.reply = reply.dump();
    if (accepted_report) {
      replies.push_back(std::move(d));
    } else {
      std::vector<zmq::message_t> out;
      out.emplace_back(d.routing_id.data(), d.routing_id.size());
      out.emplace_back(d.reply.data(), d.reply.size());
      int err = 0;
      zmqu::sendMultipart(control_, out, err);  // a client that left gets nothing: fine
    }
  }
}

nlohmann::json Hub::handleControl(const nlohmann::json& req, TimePoint now) {
  const std::string cmd = req["cmd"];
  const bool stopping = phase_ == Phase::stage1 || phase_ == Phase::stage2 || phase_ == Phase::done;
  auto ok = [](std::string message) {
    return nlohmann::json{{"ok", true}, {"code", 0}, {"message", std::move(message)}};
  };
  auto refuse = [](std::string message) {
    return nlohmann::json{{"ok", false}, {"code", 5}, {"message", std::move(message)}};
  };
  if (cmd == "status") {
    auto r = ok("");
    r["status"] = status(now);
    return r;
  }
  if (cmd == "dmstop") {
    if (stopping) return ok("DMStop already in progress");
    beginShutdown("DMStop", now);
    return ok("DMStop started: stage 1 (inputs), then stage 2 (outputs)");
  }
  if (cmd == "deskon" || cmd == "deskoff") {
    if (stopping) return refuse("the hub is shutting down (DMStop); desk state unchanged");
    const bool on = cmd == "deskon";
    const bool changed = desk_on_ != on;
    setDesk(on, now);
    return ok(std::string("desk is ") + (on ? "on" : "off") + (changed ? "" : " (no change)"));
  }
  if (cmd == "report") {
    if (stopping) return refuse("the hub is shutting down (DMStop); report not accepted");
    return acceptJobReport(req);
  }
  if (cmd == "reopen") {
    // For logrotate: outputs close and reopen their files by name.
    int told = 0;
    for (const auto& [rid, p] : peers_) {
      if (p.supervised && p.kind == wire::Kind::output) {
        sendControl(rid, "reopen");
        ++told;
      }
    }
    spdlog::info("reopen: asked {} output{} to reopen their files", told, told == 1 ? "" : "s");
    return ok("asked " + std::to_string(told) + " output" + (told == 1 ? "" : "s") +
              " to reopen their files");
  }
  if (cmd == "reload") {
    if (stopping) return refuse("the hub is shutting down (DMStop); config not reloaded");
    return reload(now);
  }
  return nlohmann::json{{"ok", false}, {"code", 2}, {"message", "unknown command '" + cmd + "'"}};
}

nlohmann::json Hub::acceptJobReport(const nlohmann::json& req) {
  auto bad = [this](const std::string& why) {
    ++counters_.refused;
    return nlohmann::json{{"ok", false}, {"code", 2}, {"message", "report refused: " + why}};
  };
  Report r;
  try {
    r.category = req.at("category").get<std::string>();
    r.text = req.at("text").get<std::string>();
    const std::string sev = req.value("severity", std::string("info"));
    auto s = parseSeverity(sev);
    if (!s) return bad("severity '" + sev + "' (use info, warning, error or critical)");
    r.severity = *s;
    if (req.contains("attrs")) r.attrs = req["attrs"].get<std::map<std::string, std::string>>();
    r.id = req.value("id", std::string());
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("malformed fields: ") + e.what());
  }
  if (r.category.empty() || r.category.size() > 256) return bad("category must be 1-256 bytes");
  if (r.id.empty()) r.id = newReportId();
  if (!validReportId(r.id)) {
    return bad("id must be 1-128 printable characters without spaces, quotes or brackets");
  }
  r.ts_ns = nowNs();
  r.origin = cfg_.node;
  r.source = "jcl";
  std::string body = encodeReport(r);
  if (body.size() > wire::kMaxBodyBytes)
    return bad("larger than " + std::to_string(wire::kMaxBodyBytes) + " bytes");
  const std::string id = r.id;
  journalReport(r.id, r.category, body);
  nlohmann::json reply{{"ok", true}, {"code", 0}, {"message", "accepted"}, {"id", id}};
  return reply;
}

// ---- reload ---------------------------------------------------------------------------

nlohmann::json Hub::reload(TimePoint now) {
  auto refused = [](int code, const std::string& message) {
    std::string one_line = message;
    std::replace(one_line.begin(), one_line.end(), '\n', ' ');
    spdlog::warn("reload refused: {}; the running config is kept", one_line);
    return nlohmann::json{{"ok", false}, {"code", code}, {"message", message}};
  };
  // The whole new config is validated before anything changes.
  std::string text;
  config::Config next;
  try {
    text = config::readFile(cfg_.file);
    next = config::loadFromString(text, cfg_.file);
  } catch (const config::ConfigError& e) {
    std::string problems;
    for (const auto& p : e.problems())
      problems += "\n" + p.str();
    return refused(2, std::to_string(e.problems().size()) + " problem" +
                          (e.problems().size() == 1 ? "" : "s") + " in " + cfg_.file.string() +
                          problems);
  }
  if (next.node != cfg_.node || next.state_dir != cfg_.state_dir || next.run_dir != cfg_.run_dir) {
    return refused(2, "node and paths cannot change on reload; restart the hub for that");
  }
  // DS processes the new config starts need ds.lock held before they look for it.
  ds_lock_retry_at_ = {};
  updateDsLock(next, now);
  const int new_fd = sealedConfig(text);
  if (new_fd < 0) return refused(1, std::string("memfd for the config: ") + strerror(errno));

  // From here on the new config is applied; nothing below can fail half-way. Children
  // started from now on (new, or restarted below) read the new text.
  config_text_ = std::move(text);
  close(config_fd_);
  config_fd_ = new_fd;
  std::vector<std::string> started, stopped, restarted, policies;
  const auto old_specs = processSpecs(cfg_);
  const auto new_specs = processSpecs(next);
  auto find = [](const std::vector<ProcessSpec>& v, const std::string& id) {
    auto it = std::find_if(v.begin(), v.end(), [&](const ProcessSpec& p) { return p.id == id; });
    return it == v.end() ? nullptr : &*it;
  };
  for (const auto& old : old_specs) {
    if (!find(new_specs, old.id)) {
      retiring_.insert(old.id);
      restarting_.erase(old.id);
      supervisor_.stop(old.id, now);
      stopped.push_back(old.id);
    }
  }
  for (const auto& spec : new_specs) {
    const ProcessSpec* old = find(old_specs, spec.id);
    if (!old) {
      retiring_.erase(spec.id);
      supervisor_.add(spec);
      // Before start-up completes, advance() starts new inputs with the others.
      if ((phase_ == Phase::running || spec.kind == wire::Kind::output) && mayRun(spec))
        supervisor_.start(spec.id, now);
      started.push_back(spec.id);
    } else if (!old->sameProcess(spec)) {
      restarting_[spec.id] = spec;
      supervisor_.stop(spec.id, now);
      restarted.push_back(spec.id);
    } else if (!(old->restart == spec.restart)) {
      supervisor_.setRestartPolicy(spec.id, spec.restart);
      policies.push_back(spec.id);
    }
  }
  // The routing table swaps in one assignment: every report is routed entirely by the old
  // table or entirely by the new one, and queued reports keep the table they were routed by.
  assignChannels(next);
  router_ = makeRouter(next);
  supervisor_.setKillTimeout(next.kill_timeout);
  const bool sync_changed = next.journal_sync != cfg_.journal_sync;
  cfg_ = std::move(next);
  finishReload(now);
  status_dirty_ = true;

  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
      out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  std::string message = "reloaded " + cfg_.file.string() + ": routing table replaced (" +
                        std::to_string(cfg_.categories.size()) + " categories)";
  if (!started.empty()) message += "; started " + list(started);
  if (!stopped.empty()) message += "; stopped " + list(stopped);
  if (!restarted.empty()) message += "; restarted " + list(restarted);
  if (!policies.empty()) message += "; new restart policy for " + list(policies);
  if (started.empty() && stopped.empty() && restarted.empty()) message += "; no process changed";
  if (sync_changed) message += "; journal.sync takes effect at the next start";
  spdlog::info("{}", message);
  return nlohmann::json{{"ok", true}, {"code", 0}, {"message", message}};
}

void Hub::finishReload(TimePoint now) {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    const Process* p = supervisor_.find(*it);
    if (p && p->state != State::stopped) {
      ++it;
      continue;
    }
    if (p) {
      if (auto c = channelOf(*it)) channels_[*c].process.clear();
      supervisor_.remove(*it);
    }
    it = retiring_.erase(it);
  }
  for (auto it = restarting_.begin(); it != restarting_.end();) {
    const Process* p = supervisor_.find(it->first);
    if (p && p->state != State::stopped) {
      ++it;
      continue;
    }
    const int restarts = p ? p->restarts : 0;
    supervisor_.add(it->second);
    supervisor_.restoreRestarts(it->first, restarts);
    if (mayRun(it->second)) supervisor_.start(it->first, now);
    it = restarting_.erase(it);
  }
  updateDsLock(cfg_, now);
}

// ---- status ---------------------------------------------------------------------------

nlohmann::json Hub::status(TimePoint now) const {
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& [id, p] : supervisor_.processes()) {
    nlohmann::json j{
        {"id", id},
        {"role", p.spec.role},
        {"kind", p.spec.kind == wire::Kind::input ? "input" : "output"},
        {"pid", p.pid},
        {"state", toString(p.state)},
        {"restarts", p.restarts},
        {"last_exit", p.last_exit},
        {"uptime_s", p.state == State::running ? seconds(since(now, p.ready_at)) : 0.0},
        {"throttled", p.policy.throttled()},
        {"desk_only", p.spec.desk_only}};
    if (p.state == State::backoff) j["next_restart_in_s"] = seconds(since(p.deadline, now));
    // With the pid, the kernel start time identifies the process beyond pid reuse: the next
    // hub uses it to find this one's leftovers after a crash.
    if (p.pid > 0) j["starttime"] = processStartTime(p.pid).value_or(0);
    procs.push_back(std::move(j));
  }
  nlohmann::json outs = nlohmann::json::array();
  nlohmann::json links = nlohmann::json::array();
  for (std::size_t i = 0; i < routing::kMaxChannels; ++i) {
    const ChannelState& st = channels_[i];
    if (st.process.empty()) continue;
    const auto c = static_cast<routing::ChannelId>(i);
    if (st.sink == routing::Sink::ns_send) {
      // Per link: is the node reachable, since when, what waits for it (DESIGN §3).
      const auto& args = supervisor_.find(st.process) ? supervisor_.find(st.process)->spec.args
                                                      : std::vector<std::string>{};
      const std::string node = args.empty() ? std::string() : args[0];
      const auto n = cfg_.nodes.find(node);
      links.push_back({{"node", node},
                       {"address", n == cfg_.nodes.end() ? std::string() : n->second.address},
                       {"process", st.process},
                       {"connected", st.link_up && !st.routing_id.empty()},
                       {"since_ns", st.link_since_ns},
                       {"backlog", journal_.backlog(c)},
                       {"in_flight", journal_.inFlight(c)},
                       {"delivered", st.delivered},
                       {"last_error", st.link_error.empty() ? st.last_error : st.link_error}});
    }
    outs.push_back({{"output", st.process},
                    {"process", st.process},
                    {"connected", !st.routing_id.empty()},
                    {"backlog", journal_.backlog(c)},
                    {"in_flight", journal_.inFlight(c)},
                    {"window", st.window},
                    {"delivered", st.delivered},
                    {"retrying", st.retry_at > now},
                    {"next_retry_in_s", st.retry_at > now ? seconds(since(st.retry_at, now)) : 0.0},
                    {"retries", st.retries},
                    {"failed", st.failed},
                    {"last_error", st.last_error}});
  }
  nlohmann::json attached = nlohmann::json::array();
  for (const auto& [rid, p] : peers_) {
    if (!p.supervised) attached.push_back({{"id", p.id}, {"pid", p.pid}, {"accepted", p.upto}});
  }
  return {{"node", cfg_.node},
          {"pid", getpid()},
          {"started_ns", started_wall_ns_},
          {"uptime_s", seconds(since(now, started_))},
          {"phase", phaseName(static_cast<int>(phase_))},
          {"desk", desk_on_ ? "on" : "off"},
          {"config", cfg_.file.string()},
          {"processes", std::move(procs)},
          {"outputs", std::move(outs)},
          {"links", std::move(links)},
          {"attached_inputs", std::move(attached)},
          {"journal",
           {{"last_seq", journal_.lastSeq()},
            {"segments", journal_.segments()},
            {"cached_entries", journal_.cachedEntries()},
            {"awaiting_sync", deferred_.size()},
            {"error", journal_.error()}}},
          {"counters",
           {{"accepted", counters_.accepted},
            {"delivered", counters_.delivered},
            {"unknown_category", counters_.unknown_category},
            {"malformed", counters_.malformed},
            {"refused", counters_.refused},
            {"unknown_recipient", counters_.unknown_recipient},
            {"circular", counters_.circular}}}};
}

void Hub::writeStatusFile(TimePoint now) {
  status_dirty_ = false;
  status_written_ = now;
  status_counters_ = counters_.accepted + counters_.delivered;
  // Write then rename: a reader (hubctl status --offline, a person) never sees half a file.
  const auto path = cfg_.state_dir / "status.json";
  const auto tmp = cfg_.state_dir / "status.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status(now).dump(2) << '\n';
    if (!out) {
      spdlog::warn("cannot write {}; status file not updated", tmp.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) spdlog::warn("cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
}

}  // namespace reporthub::hub
