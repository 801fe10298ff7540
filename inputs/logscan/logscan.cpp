// The logscan role's loop; see logscan.h. It reads while there is something to read, hands
// each match to the hub through ChildLink, and otherwise sleeps on the hub socket, its
// signals and inotify, waking at least every `poll` to look for rotation.
#include "inputs/logscan/logscan.h"

#include "common/child_link.h"
#include "common/zmq_util.h"
#include "config/config.h"
#include "inputs/logscan/scanner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace reporthub::inputs::logscan {

namespace {

// Reading stops after this many bytes per file to answer the hub, save offsets and look at
// the other files; a few milliseconds of scanning.
constexpr std::size_t kReadBudget = 4 << 20;
// Offsets are written at most this often while they move (and at a clean exit). Reports
// acknowledged but not yet saved are only read again after a kill, with the same ids.
constexpr Duration kSaveInterval = std::chrono::milliseconds(200);
// How long a stopping logscan waits for the hub to acknowledge what it submitted.
constexpr Duration kStopAckWait = std::chrono::seconds(2);

// When offsets are written, from the main loop and from inside a read alike: a read that
// submits many reports (and waits for credit) must not hold back saving for its duration.
struct Saver {
  Scanner* scanner = nullptr;
  ChildLink* link = nullptr;
  Clock::time_point next = Clock::now();
  bool now = false;  // DeskOff (a kill follows) or a stop request

  void maybeSave(bool pump) {
    const auto t = Clock::now();
    if (!now && t < next) return;
    if (pump) link->pump(Duration(0));  // take in the Acks that arrived meanwhile
    scanner->save(link->acked());
    next = t + kSaveInterval;
    now = false;
  }
};

class LinkSink : public Sink {
 public:
  explicit LinkSink(Saver& saver) : saver_(saver) {}
  std::uint64_t submit(const Report& r) override {
    ChildLink& link = *saver_.link;
    // Wait for credit here rather than inside ChildLink::submit, saving offsets meanwhile.
    while (!link.hasCredit()) {
      if (link.stopRequested()) return 0;
      link.pump(std::chrono::milliseconds(50));
      saver_.maybeSave(false);
    }
    saver_.maybeSave(true);
    if (!link.submit(r)) return 0;
    return link.submitted();
  }

 private:
  Saver& saver_;
};

Duration until(Clock::time_point t, Clock::time_point now) {
  return std::max(Duration(0), std::chrono::ceil<Duration>(t - now));
}

}  // namespace

int main(ChildContext& ctx) {
  if (!ctx.config.inputs.logscan) {
    spdlog::error("inputs.logscan is not in the config; exiting");
    return 2;
  }
  const config::LogscanInput& cfg = *ctx.config.inputs.logscan;
  Saver saver;
  LinkSink sink(saver);
  std::unique_ptr<Scanner> scanner;
  try {
    scanner = std::make_unique<Scanner>(ctx.config, sink);
  } catch (const std::invalid_argument& e) {
    spdlog::error("{}; exiting", e.what());
    return 2;
  }
  ChildLink link(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::input});
  saver.scanner = scanner.get();
  saver.link = &link;
  // DeskOff is followed by a kill: save what is acknowledged while there is time.
  link.on_control = [&](const std::string& command) {
    if (command == "deskoff" || command == "stop") saver.now = true;
  };

  bool stopping = false;
  try {
    scanner->start();
  } catch (const Stopping&) {
    stopping = true;
  }
  // At once: where a first start with `start_at: end` began must survive a kill right away.
  scanner->save(link.acked());
  saver.next = Clock::now() + kSaveInterval;
  link.ready();
  spdlog::info("following {} file(s) with offsets in {}", cfg.files.size(),
               scanner->stateFile().string());

  auto now = Clock::now();
  auto next_check = now + cfg.poll;
  bool check_due = false;
  while (!stopping && !link.stopRequested()) {
    bool more = false;
    try {
      more = scanner->read(kReadBudget);
      now = Clock::now();
      if (check_due || scanner->wantsCheck() || now >= next_check) {
        scanner->check();
        next_check = now + cfg.poll;
        check_due = false;
        more = true;  // a file it just opened may hold lines already: no wake-up will say so
      }
    } catch (const Stopping&) {
      break;
    }
    link.pump(Duration(0));
    scanner->acked(link.acked());
    saver.maybeSave(false);
    if (more) continue;

    now = Clock::now();
    auto wake = next_check;
    if (scanner->dirty(link.acked())) wake = std::min(wake, saver.next);
    std::vector<zmq::pollitem_t> items{{link.socket().handle(), 0, ZMQ_POLLIN, 0},
                                       {nullptr, link.signalFd(), ZMQ_POLLIN, 0}};
    if (scanner->notifyFd() >= 0) items.push_back({nullptr, scanner->notifyFd(), ZMQ_POLLIN, 0});
    zmqu::poll(items, until(wake, now));
    if (items.size() > 2 && (items[2].revents & ZMQ_POLLIN)) {
      check_due = scanner->drainNotify() || check_due;
    }
  }

  // SIGTERM (a reload that changed logscan, or an operator): keep the place exactly.
  link.waitAcked(kStopAckWait);
  scanner->acked(link.acked());
  scanner->save(link.acked());
  spdlog::info("stopping: offsets saved ({} reports submitted, {} acknowledged)", link.submitted(),
               link.acked());
  return 0;
}

}  // namespace reporthub::inputs::logscan
