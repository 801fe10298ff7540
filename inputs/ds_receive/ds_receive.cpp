// The ds_receive role's loop; see ds_receive.h. One thread: it reads sockets while the hub
// grants credit and otherwise waits on the hub alone, so backpressure reaches senders as TCP
// flow control. Every second it checks that its hub still holds ds.lock.
#include "inputs/ds_receive/ds_receive.h"

#include "common/child_link.h"
#include "common/lock.h"
#include "common/zmq_util.h"
#include "config/config.h"
#include "inputs/ds_receive/ingest.h"
#include "inputs/ds_receive/server.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace reporthub::inputs::ds_receive {

namespace {

using Clock = std::chrono::steady_clock;

constexpr Duration kLockCheck = std::chrono::seconds(1);
constexpr Duration kSummaryEvery = std::chrono::seconds(60);
// On stop: how long to keep submitting what was already read, and to wait for its Acks.
constexpr Duration kStopSubmitWait = std::chrono::seconds(5);
constexpr Duration kStopAckWait = std::chrono::seconds(10);

class LinkSubmitter : public Submitter {
 public:
  explicit LinkSubmitter(ChildLink& link) : link_(link) {}
  bool hasCredit() override { return link_.hasCredit(); }
  void submit(std::string_view id, std::string_view category, std::string_view body) override {
    // One Submit reused: its strings keep their capacity, so no allocation per report here.
    m_.id.assign(id);
    m_.category.assign(category);
    // Called only while the hub grants credit (Ingest checks hasCredit first). Gathered
    // into a batch, which goes to the hub when full or before this process waits.
    link_.trySubmit(m_, body);
  }

 private:
  ChildLink& link_;
  wire::Submit m_;
};

std::string summary(const ServerCounters& c, std::uint64_t submitted, std::size_t open) {
  return fmt::format(
      "{} messages received ({} UDP), {} reported; refused: {} malformed, {} oversized, {} "
      "not syslog framing, {} truncated; connections: {} accepted, {} open, {} refused at "
      "max_connections, {} closed as unframable",
      c.messages, c.datagrams, submitted, c.malformed, c.oversized, c.garbage, c.truncated,
      c.accepted, open, c.refused, c.unframable);
}

Duration until(Clock::time_point t) {
  return std::max(Duration(0), std::chrono::ceil<Duration>(t - Clock::now()));
}

}  // namespace

int main(ChildContext& ctx) {
  if (!ctx.config.inputs.ds_receive) {
    spdlog::error("inputs.ds_receive is not in the config; exiting");
    return 2;
  }
  const config::DsReceiveInput& cfg = *ctx.config.inputs.ds_receive;
  const auto lock_path = ctx.config.dsLockPath();
  // DESIGN §1 step 4: no syslog is taken in unless this hub holds ds.lock.
  if (auto why = lockNotHeldBy(lock_path, getppid()); !why.empty()) {
    spdlog::error("{}; exiting without listening", why);
    return 1;
  }

  ChildLink link(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::input});
  LinkSubmitter submitter(link);
  std::unique_ptr<Ingest> ingest;
  try {
    ingest = std::make_unique<Ingest>(cfg, ctx.config.node, submitter);
  } catch (const std::invalid_argument& e) {
    spdlog::error("{}; exiting", e.what());
    return 2;
  }
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>(cfg, *ingest);
  } catch (const std::exception& e) {
    spdlog::error("cannot listen: {}; exiting (the hub restarts it per its restart policy)",
                  e.what());
    return 1;
  }
  link.ready();
  spdlog::info("listening on {}{}{} (max_connections {}, max_message {} bytes, {} rule(s))",
               server->tcpAddress(), server->udpAddress().empty() ? "" : " and ",
               server->udpAddress(), cfg.max_connections, cfg.max_message, cfg.rules.size());

  auto next_lock_check = Clock::now() + kLockCheck;
  auto next_summary = Clock::now() + kSummaryEvery;
  ServerCounters last_summary;
  std::uint64_t last_submitted = 0;
  std::vector<zmq::pollitem_t> items;
  while (!link.stopRequested()) {
    link.pump(Duration(0));
    if (link.stopRequested()) break;
    const auto now = Clock::now();
    if (now >= next_lock_check) {
      if (auto why = lockNotHeldBy(lock_path, getppid()); !why.empty()) {
        spdlog::error("{}; closing {} connection(s) and exiting", why, server->connections());
        return 1;
      }
      next_lock_check = now + kLockCheck;
    }
    if (now >= next_summary) {
      if (!(server->counters() == last_summary) || ingest->submitted() != last_submitted) {
        spdlog::info("since start: {}",
                     summary(server->counters(), ingest->submitted(), server->connections()));
        last_summary = server->counters();
        last_submitted = ingest->submitted();
      }
      next_summary = now + kSummaryEvery;
    }
    if (link.hasCredit() && server->poll()) continue;
    link.flush();

    // Idle, or no credit: then only the hub's Acks (and signals) can change anything, and the
    // sockets are left unread so that TCP pushes back on the senders.
    items.clear();
    items.push_back({link.socket().handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, link.signalFd(), ZMQ_POLLIN, 0});
    if (link.hasCredit()) items.push_back({nullptr, server->fd(), ZMQ_POLLIN, 0});
    zmqu::poll(items, until(std::min(next_lock_check, next_summary)));
  }

  // DMStop stage 1 (or SIGTERM): refuse from now on, but what was read whole is the sender's
  // delivered data: submit it while the hub still takes it.
  spdlog::info("stopping: closing the listener and {} connection(s)", server->connections());
  server->stopAccepting();
  server->closeConnections();
  const auto give_up = Clock::now() + kStopSubmitWait;
  while (server->pending() && Clock::now() < give_up) {
    link.pump(Duration(0));
    if (!link.hasCredit() || !server->poll()) link.pump(std::chrono::milliseconds(50));
  }
  const std::size_t left = server->bufferedBytes();
  const bool acked = link.waitAcked(kStopAckWait);
  spdlog::info("stopped: {}; {} of {} submitted reports acknowledged{}",
               summary(server->counters(), ingest->submitted(), 0), link.acked(), link.submitted(),
               left > 0 ? fmt::format("; {} bytes read but not submitted", left) : "");
  if (!acked) {
    spdlog::warn(
        "the hub did not acknowledge {} report(s) within {}s; exiting anyway (the hub journals "
        "what it received)",
        link.submitted() - link.acked(),
        std::chrono::duration_cast<std::chrono::seconds>(kStopAckWait).count());
  }
  return 0;
}

}  // namespace reporthub::inputs::ds_receive
