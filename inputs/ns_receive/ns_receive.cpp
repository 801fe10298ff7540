// The ns_receive loop; see ns_receive.h. One thread polls the ROUTER that remote links
// connect to, the link to this hub, the ZAP handler and the signalfd. Every bound (peers,
// frames, sizes, credit, rate) is applied before a report is decoded or kept.
#include "inputs/ns_receive/ns_receive.h"

#include "common/child_link.h"
#include "common/curve.h"
#include "common/zmq_util.h"
#include "config/config.h"
#include "inputs/ns_receive/inbox.h"
#include "inputs/ns_receive/zap.h"

#include <zmq.h>

#include <spdlog/spdlog.h>

#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace reporthub::inputs::ns_receive {

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// A sender pings every heartbeat (1 s by default); one silent this long is gone.
constexpr auto kForgetAfter = std::chrono::seconds(60);
// Distinct peers and addresses whose problems are logged; past this they are only counted.
constexpr std::size_t kMaxLogged = 1024;
// Messages read from the network before the hub link gets a turn.
constexpr int kMaxPerRound = 4096;

bool isLoopback(const std::string& listen) {
  std::string host = listen.substr(6, listen.rfind(':') - 6);  // after "tcp://"
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host.starts_with("127.") || host == "localhost" || host == "::1";
}

std::string property(const zmq::message_t& m, const char* name) {
  const char* v = zmq_msg_gets(const_cast<zmq_msg_t*>(m.handle()), name);
  return v ? v : "";
}

struct Peer {
  std::string routing_id;
  std::string node;
  std::string address;
  Inbox::PeerId session = 0;
  std::uint64_t expected = 1;     // next remote seq
  std::uint64_t granted = 0;      // credit announced: the highest seq it may send
  std::uint64_t acked = 0;        // remote seqs acknowledged through this
  std::uint64_t told = 0;         // `acked` as last sent
  std::uint64_t told_credit = 0;  // `granted` as last sent
  std::uint64_t refused = 0;
  double tokens = 0;  // max_rate: credit that may still be granted
  TimePoint refilled{};
  TimePoint last_heard{};
  bool refused_logged = false;
};

struct Queued {
  wire::Submit head;
  zmq::message_t body;
};

class Receiver {
 public:
  Receiver(ChildContext& ctx, const config::NsReceiveInput& in,
           std::optional<curve::KeyPair> server, curve::AllowedClients allowed)
      : cfg_(ctx.config),
        in_(in),
        hub_(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::input}),
        router_(ctx.zmq, zmq::socket_type::router) {
    if (server) zap_.emplace(ctx.zmq, std::move(allowed));
    zmqu::configure(router_, 100'000, std::chrono::milliseconds(0));
    // A send to a peer that has gone fails instead of vanishing: the peer is forgotten.
    router_.set(zmq::sockopt::router_mandatory, 1);
    // ZeroMQ closes a connection that sends a frame above this before it is stored.
    router_.set(zmq::sockopt::maxmsgsize,
                static_cast<int64_t>(wire::kMaxBodyBytes + wire::kMaxEnvelopeBytes));
    if (server) {
      router_.set(zmq::sockopt::curve_server, 1);
      zmq_setsockopt(router_.handle(), ZMQ_CURVE_SECRETKEY, server->secret_key.c_str(), 41);
      router_.set(zmq::sockopt::zap_domain, "reporthub");
    }
    router_.bind(in_.listen);
    if (!server && !isLoopback(in_.listen)) {
      spdlog::warn(
          "listening on {} without CURVE: any host that reaches it can submit reports as any "
          "node; configure inputs.ns_receive.curve to authenticate links",
          in_.listen);
    }
  }

  int run() {
    hub_.ready();
    spdlog::info("listening on {} ({}{})", in_.listen,
                 zap_ ? "CURVE, allowed clients only" : "plain, no CURVE",
                 in_.max_rate ? ", at most " + std::to_string(in_.max_rate) + " reports/s per link"
                              : std::string());
    std::vector<zmq::pollitem_t> items;
    TimePoint housekeeping = Clock::now();
    for (;;) {
      items.assign({{router_.handle(), 0, ZMQ_POLLIN, 0},
                    {hub_.socket().handle(), 0, ZMQ_POLLIN, 0},
                    {nullptr, hub_.signalFd(), ZMQ_POLLIN, 0}});
      if (zap_) items.push_back({zap_->socket().handle(), 0, ZMQ_POLLIN, 0});
      // Starved peers of a rate-limited receiver get credit as tokens come back.
      const auto wait =
          in_.max_rate ? std::chrono::milliseconds(50) : std::chrono::milliseconds(1000);
      zmqu::poll(items, wait);
      now_ = Clock::now();
      if (zap_) zap_->process();
      hub_.pump(Duration(0));
      if (hub_.stopRequested()) break;
      bool overflow = false;
      for (int i = 0; i < kMaxPerRound && zmqu::recvMultipart(router_, frames_, 3, overflow); ++i) {
        if (overflow) {
          malformed(frames_.empty() ? std::string() : std::string(zmqu::view(frames_[0])),
                    "too many frames");
          continue;
        }
        handle();
        flushQueue();
      }
      flushQueue();
      hub_.flush();  // what was gathered goes to the hub before this loop waits again
      inbox_.hubAcked(hub_.acked());
      sendAcks();
      if (now_ - housekeeping >= std::chrono::milliseconds(in_.max_rate ? 50 : 1000)) {
        housekeeping = now_;
        forgetSilent();
        feedStarved();
        logCounters(false);
      }
    }
    return stop();
  }

 private:
  // ---- messages from remote links ----

  void handle() {
    if (frames_.size() < 2) return malformed(std::string(zmqu::view(frames_[0])), "no envelope");
    const std::string rid(zmqu::view(frames_[0]));
    wire::Envelope& env = env_;
    if (auto err = wire::decode(zmqu::view(frames_[1]), env); !err.empty()) {
      return malformed(rid, err);
    }
    if (wire::hasBody(env) != (frames_.size() == 3)) return malformed(rid, "body frame mismatch");
    if (auto* h = std::get_if<wire::Hello>(&env)) return hello(rid, *h);
    auto it = peers_.find(rid);
    if (it == peers_.end()) return unknown(rid);
    Peer& p = it->second;
    p.last_heard = now_;
    if (auto* s = std::get_if<wire::Submit>(&env)) return submit(p, *s);
    if (auto* c = std::get_if<wire::Control>(&env)) {
      if (c->command == "ping") send(p.routing_id, wire::Control{"pong"});
      return;
    }
    protocolError(p, std::string("unexpected ") + std::string(wire::name(env)));
  }

  void hello(const std::string& rid, const wire::Hello& h) {
    const std::string address = property(frames_[1], "Peer-Address");
    if (auto it = peers_.find(rid); it != peers_.end()) {
      return protocolError(it->second, "a second hello on one connection");
    }
    std::string why;
    if (h.role != "ns_send") {
      why = "role '" + h.role + "' is not ns_send";
    } else if (!curve::validNodeName(h.id)) {
      why = "'" + h.id + "' is not a valid node name";
    } else if (h.id == cfg_.node) {
      why = "the peer claims to be this node (" + cfg_.node + ")";
    } else if (zap_) {
      const std::string user = property(frames_[1], "User-Id");
      if (user != h.id) {
        why = "a peer cannot claim to be another node: its key is " + user + "'s, it said " + h.id;
      }
    }
    const Peer* same = nullptr;
    for (const auto& [r, p] : peers_) {
      if (p.node == h.id) same = &p;
    }
    if (why.empty() && !same && peers_.size() >= kMaxPeers) {
      why = "too many links (" + std::to_string(kMaxPeers) + ")";
    }
    if (!why.empty()) {
      ++refused_hellos_;
      send(rid, wire::Control{"refused: " + why});
      refused_rids_.insert(rid);
      if (logged_.size() < kMaxLogged && logged_.insert(address + "\n" + why).second) {
        spdlog::warn(
            "refused a link from {} claiming node '{}': {}; its messages are ignored and "
            "counted ({} refused so far)",
            address.empty() ? "an unknown address" : address, h.id, why, refused_hellos_);
      }
      return;
    }
    if (same) {
      // A sender that lost its link opens a new one before this side notices: the newer wins.
      spdlog::info("node {} opened a new link from {}; its older one is dropped", h.id, address);
      dropPeer(same->routing_id);
    }
    Peer p;
    p.routing_id = rid;
    p.node = h.id;
    p.address = address;
    p.session = ++sessions_;
    p.last_heard = now_;
    p.refilled = now_;
    p.tokens = in_.max_rate;
    sessions_by_id_[p.session] = rid;
    Peer& stored = peers_.emplace(rid, std::move(p)).first->second;
    stored.told_credit = grant(stored);
    send(rid, wire::Welcome{stored.told_credit, false});
    spdlog::info("link from node {} ({}) is up", stored.node,
                 address.empty() ? "unknown address" : address);
  }

  void submit(Peer& p, wire::Submit& m) {
    if (m.seq != p.expected) {
      return protocolError(
          p, "submit seq " + std::to_string(m.seq) + ", expected " + std::to_string(p.expected));
    }
    if (m.seq > p.granted) return protocolError(p, "submit beyond the credit granted");
    ++p.expected;
    zmq::message_t& body = frames_[2];
    std::string why;
    if (body.size() > wire::kMaxBodyBytes) {
      why = "larger than the body limit";
    } else if (m.recipient.empty()) {
      why = "no recipient";
    } else if (why = decodeReport(zmqu::view(body), report_); why.empty()) {
      if (report_.id != m.id || !validReportId(m.id)) {
        why = "invalid id, or not the body's";
      } else if (report_.category != m.category || m.category.empty()) {
        why = "empty category, or not the body's";
      } else if (report_.via != m.via) {
        why = "via is not the body's";
      } else if (report_.via.empty() || report_.via.back() != p.node) {
        // Each hop appends itself: the last name must be the node this link belongs to.
        why = "via does not end with the sending node " + p.node;
      }
    }
    if (!why.empty()) {
      ++p.refused;
      ++refused_reports_;
      if (!p.refused_logged) {
        p.refused_logged = true;
        spdlog::warn(
            "refused report {} from node {}: {}; not submitted, counted and acknowledged as "
            "refused (further refusals on this link are only counted)",
            m.id, p.node, why);
      }
      inbox_.skip(p.session, m.seq);
      return;
    }
    if (inbox_.offer(p.session, m.seq, m.id, m.recipient) == Inbox::Verdict::duplicate) {
      ++duplicates_;
      return;
    }
    queued_bytes_ += body.size();
    queue_.push_back({std::move(m), std::move(body)});
  }

  void unknown(const std::string& rid) {
    ++ignored_;
    // Once per connection: a link that lost its session here must start again with Hello.
    if (refused_rids_.size() >= kMaxLogged) refused_rids_.clear();
    if (refused_rids_.insert(rid).second) send(rid, wire::Control{"refused: hello first"});
  }

  void malformed(const std::string& rid, const std::string& why) {
    ++malformed_;
    auto it = peers_.find(rid);
    const std::string who = it != peers_.end() ? "node " + it->second.node : "an unknown peer";
    if (logged_.size() < kMaxLogged && logged_.insert(who + "\nmalformed").second) {
      spdlog::warn(
          "malformed message from {} ({}); dropped and counted (further ones from it "
          "are only counted)",
          who, why);
    }
  }

  void protocolError(Peer& p, const std::string& why) {
    ++malformed_;
    spdlog::warn(
        "link from node {} ({}): {}; the session is dropped (the sender reconnects and "
        "resends what was not acknowledged)",
        p.node, p.address, why);
    const std::string rid = p.routing_id;
    send(rid, wire::Control{"refused: " + why});
    refused_rids_.insert(rid);
    dropPeer(rid);
  }

  void dropPeer(const std::string& rid) {
    auto it = peers_.find(rid);
    if (it == peers_.end()) return;
    sessions_by_id_.erase(it->second.session);
    peers_.erase(it);
  }

  // Returns false if the peer is gone (it is forgotten then).
  bool send(const std::string& rid, const wire::Envelope& e) {
    std::vector<zmq::message_t> out;
    out.emplace_back(rid.data(), rid.size());
    const auto env = wire::encodeView(e);
    out.emplace_back(env.data(), env.size());
    int err = 0;
    if (zmqu::sendMultipart(router_, out, err)) return true;
    if (err == EHOSTUNREACH) dropPeer(rid);
    return false;
  }

  // ---- towards the hub ----

  void flushQueue() {
    while (!queue_.empty()) {
      Queued& q = queue_.front();
      const std::size_t size = q.body.size();
      if (!hub_.trySubmit(q.head, zmqu::view(q.body))) break;
      queued_bytes_ -= size;
      queue_.pop_front();
    }
  }

  // The credit a peer may use: its window beyond what is acknowledged, unless the queue for
  // the hub is full or its rate is spent. Credit never shrinks.
  std::uint64_t grant(Peer& p) {
    std::uint64_t target = p.acked + kPeerWindow;
    if (queued_bytes_ > kMaxQueuedBytes) target = p.granted;
    if (in_.max_rate > 0) {
      const double secs = std::chrono::duration<double>(now_ - p.refilled).count();
      p.refilled = now_;
      p.tokens = std::min<double>(in_.max_rate, p.tokens + secs * in_.max_rate);
      target = std::min<std::uint64_t>(target, p.granted + static_cast<std::uint64_t>(p.tokens));
      if (target > p.granted) p.tokens -= static_cast<double>(target - p.granted);
    }
    p.granted = std::max(p.granted, target);
    return p.granted;
  }

  void sendAcks() {
    for (const auto& [session, upto] : inbox_.takeAcks()) {
      auto sit = sessions_by_id_.find(session);
      if (sit == sessions_by_id_.end()) continue;  // that session is gone
      auto it = peers_.find(sit->second);
      if (it == peers_.end()) continue;
      it->second.acked = std::max(it->second.acked, upto);
      pending_acks_.insert(sit->second);
    }
    for (const auto& rid : pending_acks_) {
      auto it = peers_.find(rid);
      if (it == peers_.end()) continue;
      Peer& p = it->second;
      const std::uint64_t credit = grant(p);
      if (p.acked == p.told && credit == p.told_credit) continue;
      if (send(rid, wire::Ack{p.acked, credit, p.refused})) {
        p.told = p.acked;
        p.told_credit = credit;
      }
    }
    pending_acks_.clear();
  }

  // A peer that used all its credit hears of new credit as tokens (or queue room) return.
  void feedStarved() {
    for (auto& [rid, p] : peers_) {
      if (p.expected - 1 >= p.granted) pending_acks_.insert(rid);
    }
    sendAcks();
  }

  void forgetSilent() {
    for (auto it = peers_.begin(); it != peers_.end();) {
      if (now_ - it->second.last_heard < kForgetAfter) {
        ++it;
        continue;
      }
      spdlog::info("link from node {} ({}) silent for {}s; forgotten", it->second.node,
                   it->second.address, kForgetAfter.count());
      sessions_by_id_.erase(it->second.session);
      it = peers_.erase(it);
    }
  }

  void logCounters(bool always) {
    const std::uint64_t refused_keys = zap_ ? zap_->refused() : 0;
    const auto now = std::make_tuple(refused_keys, refused_hellos_, malformed_, ignored_,
                                     refused_reports_, duplicates_);
    if (!always && (now == last_counters_ || now_ - counters_logged_ < std::chrono::minutes(1)))
      return;
    last_counters_ = now;
    counters_logged_ = now_;
    spdlog::info(
        "counters: {} connection(s) refused by key, {} link(s) refused, {} malformed and {} "
        "out-of-session message(s), {} report(s) refused, {} duplicate(s) suppressed",
        refused_keys, refused_hellos_, malformed_, ignored_, refused_reports_, duplicates_);
  }

  int stop() {
    // Stop taking new reports at once; what was taken still reaches the hub, and whatever a
    // sender does not hear acknowledged it sends again to the next instance.
    router_.close();
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!queue_.empty() && Clock::now() < deadline) {
      flushQueue();
      hub_.pump(std::chrono::milliseconds(100));
    }
    hub_.waitAcked(std::chrono::seconds(10));
    logCounters(true);
    spdlog::info("stopping: {} report(s) submitted, {} acknowledged by the hub, {} not submitted",
                 hub_.submitted(), hub_.acked(), queue_.size());
    return 0;
  }

  const config::Config& cfg_;
  const config::NsReceiveInput& in_;
  ChildLink hub_;
  zmq::socket_t router_;
  std::optional<ZapHandler> zap_;
  TimePoint now_ = Clock::now();
  std::vector<zmq::message_t> frames_;
  wire::Envelope env_;  // the message being handled; reused
  Report report_;       // reused: its strings keep their capacity
  Inbox inbox_;
  std::unordered_map<std::string, Peer> peers_;
  std::unordered_map<Inbox::PeerId, std::string> sessions_by_id_;
  Inbox::PeerId sessions_ = 0;
  std::set<std::string> pending_acks_;
  std::deque<Queued> queue_;
  std::size_t queued_bytes_ = 0;
  std::set<std::string> refused_rids_;
  std::set<std::string> logged_;
  std::uint64_t refused_hellos_ = 0, malformed_ = 0, ignored_ = 0, refused_reports_ = 0,
                duplicates_ = 0;
  std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t,
             std::uint64_t>
      last_counters_{};
  TimePoint counters_logged_{};
};

}  // namespace

int main(ChildContext& ctx) {
  const auto& cfg = ctx.config;
  if (!cfg.inputs.ns_receive) {
    spdlog::error("no inputs.ns_receive in the config; nothing to do");
    return 2;
  }
  const auto& in = *cfg.inputs.ns_receive;
  std::optional<curve::KeyPair> server;
  curve::AllowedClients allowed;
  if (in.curve) {
    // Validated at load; read again here because the files may have changed since.
    curve::KeyPair keys;
    auto fail = [](const std::vector<curve::FileProblem>& problems,
                   const std::filesystem::path& file) {
      spdlog::error("{}; not listening without authentication, exiting",
                    problems.front().str(file));
      return 1;
    };
    if (auto p = curve::readSecretKeyFile(in.curve->secret_key, keys); !p.empty())
      return fail(p, in.curve->secret_key);
    if (auto p = curve::readAllowedClients(in.curve->allowed_clients, allowed); !p.empty())
      return fail(p, in.curve->allowed_clients);
    server = keys;
  }
  try {
    Receiver r(ctx, in, server, std::move(allowed));
    return r.run();
  } catch (const zmq::error_t& e) {
    spdlog::error("cannot listen on {}: {}; exiting (the hub restarts it per its restart policy)",
                  in.listen, e.what());
    return 1;
  }
}

}  // namespace reporthub::inputs::ns_receive
