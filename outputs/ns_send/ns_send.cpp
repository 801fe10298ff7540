// The ns_send loop; see ns_send.h and README.md (the link protocol). Deliveries from the hub
// go into the Outbox and out on the Link at once while it is up and the receiver grants
// credit; the receiver's Acks come back as in-order Results to the hub.
#include "outputs/ns_send/ns_send.h"

#include "common/child_link.h"
#include "common/curve.h"
#include "common/zmq_util.h"
#include "config/config.h"
#include "outputs/ns_send/link.h"
#include "outputs/ns_send/outbox.h"

#include <spdlog/spdlog.h>

namespace reporthub::outputs::ns_send {

namespace {

class Sender {
 public:
  Sender(ChildContext& ctx, const std::string& peer, LinkOptions opts)
      : cfg_(ctx.config),
        settings_(ctx.config.outputs.ns_send),
        peer_(peer),
        hub_(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::output, kWindow}),
        link_(ctx.zmq, std::move(opts)) {
    hub_.on_deliver = [this](const wire::Deliver& d, std::string_view body) { deliver(d, body); };
    link_.on_up = [this] { linkUp(); };
    link_.on_down = [this](const std::string& why) { linkDown(why); };
    link_.on_ack = [this](const wire::Ack& a) {
      outbox_.acked(a.upto, now_);
      if (a.refused > refused_) {
        // The receiver's hub would not take some reports (invalid id or category): they
        // count as delivered here, as the hub's own refusals do for an input.
        spdlog::warn("{}: the remote hub refused {} report(s) in all (malformed); counted there",
                     link_.name(), a.refused);
        refused_ = a.refused;
      }
    };
  }

  int run() {
    hub_.ready();
    spdlog::info("forwarding to {} as node {}{}", link_.name(), cfg_.node,
                 cfg_.nodes.at(peer_).public_key.empty() ? " (plain, no CURVE)" : " (CURVE)");
    std::optional<Clock::time_point> stop_deadline;
    std::vector<zmq::pollitem_t> items;
    for (;;) {
      now_ = Clock::now();
      Clock::time_point next = now_ + std::chrono::milliseconds(500);
      next = std::min(next, link_.nextTimer());
      if (auto d = outbox_.deadline(settings_.timeout)) next = std::min(next, *d);
      items.assign(
          {{hub_.socket().handle(), 0, ZMQ_POLLIN, 0}, {nullptr, hub_.signalFd(), ZMQ_POLLIN, 0}});
      link_.addPollItems(items);
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now_);
      zmqu::poll(items, std::max(wait, std::chrono::milliseconds(0)));
      now_ = Clock::now();
      hub_.pump(Duration(0));
      link_.process(now_);
      sendPending();
      expire();
      tellHub();
      link_.tick(now_, outbox_.size() > outbox_.unsent());
      sendPending();  // a session that just came up, or credit freed by an Ack
      if (hub_.stopRequested()) {
        // DMStop stage 2: what the remote node has not acknowledged stays in the hub's
        // journal; waiting for it is worth a timeout at most.
        if (!stop_deadline) stop_deadline = now_ + settings_.timeout;
        if (outbox_.empty() || !link_.up() || now_ >= *stop_deadline) break;
      }
    }
    tellHub();
    if (!outbox_.empty()) {
      spdlog::info("stopping: {} report(s) not yet acknowledged by {} stay in the hub's journal",
                   outbox_.size(), peer_);
    } else {
      spdlog::info("stopping: everything received was acknowledged by {}", peer_);
    }
    link_.close();
    return 0;
  }

 private:
  void deliver(const wire::Deliver& d, std::string_view body) {
    if (retry_seq_ != 0) {
      // After a retry answer, what the hub had already sent is stale: it resends from
      // retry_seq_ after its backoff.
      if (d.seq != retry_seq_) return;
      retry_seq_ = 0;
    }
    if (d.seq <= last_seq_) return;
    last_seq_ = d.seq;
    std::string why = decodeReport(body, report_);
    for (const auto& t : d.targets) {
      if (!why.empty()) break;
      if (t.params.size() != 2 || t.params[0] != peer_) {
        why = "target '" + t.recipient + "' is not for node " + peer_;
      }
    }
    if (why.empty() && d.targets.empty()) why = "no target";
    if (why.empty()) {
      // Each hop appends itself: the next node checks it is the last name, and the hub
      // there refuses a report that went round in a circle.
      report_.via.push_back(cfg_.node);
      encoded_ = encodeReport(report_);
      if (encoded_.size() > wire::kMaxBodyBytes) why = "too large to forward with this node in via";
    }
    if (!why.empty()) {
      if (failed_++ == 0) {
        spdlog::error(
            "report {} cannot be forwarded to {} ({}); the hub is told it failed "
            "(counted there; further ones are only counted)",
            d.id, peer_, why);
      }
      outbox_.addFailed(d.seq, "cannot forward to " + peer_ + ": " + why, now_);
      return;
    }
    zmq::message_t shared(encoded_.data(), encoded_.size());
    std::vector<Part> parts(d.targets.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      parts[i].submit =
          wire::Submit{0, report_.id, report_.category, d.targets[i].params[1], report_.via};
      parts[i].body.copy(shared);  // one buffer, shared by reference count
    }
    outbox_.add(d.seq, std::move(parts), now_);
  }

  void sendPending() {
    if (!link_.up()) return;
    while (Part* p = outbox_.nextToSend(link_.credit())) {
      if (!link_.submit(p->submit, p->body, now_)) break;
      outbox_.sent();
    }
  }

  void expire() {
    const std::string why =
        link_.up() ? "no acknowledgement for " + formatDuration(settings_.timeout)
                   : (down_reason_.empty() ? std::string("not connected") : down_reason_);
    auto r = outbox_.expire(now_, settings_.timeout, link_.name() + ": " + why);
    if (!r) return;
    tellHub();
    hub_.sendResult(*r);
    // The hub resends from r->seq after its backoff: everything after r->upto is new again.
    retry_seq_ = r->seq;
    last_seq_ = r->upto;
    spdlog::info(
        "{}: reports waited {} without acknowledgement; handed back to the hub's "
        "journal for a retry",
        link_.name(), formatDuration(settings_.timeout));
  }

  void tellHub() {
    for (const auto& r : outbox_.takeResults())
      hub_.sendResult(r);
  }

  void linkUp() {
    outbox_.restartSession();
    if (warned_down_) {
      spdlog::info("{} is up again; {} report(s) held are sent now", link_.name(), outbox_.size());
    } else {
      spdlog::info("{} is up", link_.name());
    }
    warned_down_ = false;
    told_down_.clear();
    down_reason_.clear();
    hub_.sendControl("link-up");
  }

  void linkDown(const std::string& why) {
    down_reason_ = why;
    if (!warned_down_) {
      warned_down_ = true;
      // The hub warns when it hears link-down; this line says what the link does about it.
      spdlog::info(
          "{} is down: {}; reconnecting, reports wait (in memory up to {}, then in the "
          "hub's journal)",
          link_.name(), why, formatDuration(settings_.timeout));
    }
    // Each new reason once, so status shows the latest without a message per attempt.
    if (why != told_down_) {
      told_down_ = why;
      hub_.sendControl("link-down: " + why);
    }
  }

  const config::Config& cfg_;
  const config::NsSendOutput& settings_;
  std::string peer_;
  ChildLink hub_;
  Link link_;
  Outbox outbox_;
  Clock::time_point now_ = Clock::now();
  Report report_;        // reused: its strings keep their capacity
  std::string encoded_;  // the same
  std::uint64_t last_seq_ = 0;
  std::uint64_t retry_seq_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t refused_ = 0;
  bool warned_down_ = false;
  std::string told_down_;
  std::string down_reason_;
};

}  // namespace

int main(ChildContext& ctx) {
  const auto& cfg = ctx.config;
  const std::string peer = ctx.args.empty() ? "" : ctx.args.front();
  auto it = cfg.nodes.find(peer);
  if (it == cfg.nodes.end()) {
    spdlog::error("no nodes entry named '{}'; nothing to forward to", peer);
    return 2;
  }
  LinkOptions opts;
  opts.node = cfg.node;
  opts.peer = peer;
  opts.address = it->second.address;
  opts.server_key = it->second.public_key;
  opts.heartbeat = cfg.outputs.ns_send.heartbeat;
  if (!opts.server_key.empty()) {
    // Validated at load; read again here because the file may have changed since.
    auto problems = curve::readSecretKeyFile(cfg.outputs.ns_send.secret_key, opts.client);
    if (!problems.empty()) {
      spdlog::error("{}; cannot authenticate to {}, exiting",
                    problems.front().str(cfg.outputs.ns_send.secret_key), peer);
      return 1;
    }
  }
  Sender sender(ctx, peer, std::move(opts));
  return sender.run();
}

}  // namespace reporthub::outputs::ns_send
