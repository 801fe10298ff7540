// The test child; see testproc.h.
#include "inputs/testproc/testproc.h"

#include "common/child_link.h"
#include "config/config.h"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace reporthub::inputs::testproc {

int main(ChildContext& ctx) {
  const auto& all = ctx.config.inputs.testproc;
  const std::string name = ctx.args.empty() ? "" : ctx.args.front();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& t) { return t.name == name; });
  if (it == all.end()) {
    spdlog::error("no inputs.testproc entry named '{}'", name);
    return 2;
  }
  const config::TestProc& cfg = *it;
  ChildLink link(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::input});
  if (cfg.mode == config::TestMode::ignore_term) {
    // The link routes SIGTERM to its signalfd by blocking it; a blocked signal is queued even
    // when ignored, so it must be unblocked for SIG_IGN to take effect.
    signal(SIGTERM, SIG_IGN);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &term, nullptr);
  }
  if (cfg.mode == config::TestMode::hang) {
    // Never says ready; the supervisor's ready timeout has to deal with it.
    for (;;)
      pause();
  }
  link.ready();

  const auto started = std::chrono::steady_clock::now();
  if (cfg.mode == config::TestMode::emit) {
    for (int i = 0; i < cfg.count; ++i) {
      Report r;
      r.id = newReportId();
      r.ts_ns = nowNs();
      r.origin = ctx.config.node;
      r.source = "testproc";
      r.category = cfg.category;
      r.text = "testproc " + name + " report " + std::to_string(i + 1);
      if (!link.submit(r)) break;
    }
    link.waitAcked(std::chrono::seconds(30));
    spdlog::info("submitted {} reports, {} acknowledged", link.submitted(), link.acked());
  }
  while (!link.stopRequested()) {
    if (cfg.mode == config::TestMode::crash &&
        std::chrono::steady_clock::now() - started >= cfg.delay) {
      spdlog::info("crashing on purpose (mode crash)");
      return 1;
    }
    link.pump(cfg.mode == config::TestMode::crash ? std::chrono::milliseconds(10)
                                                  : std::chrono::milliseconds(500));
  }
  if (cfg.mode == config::TestMode::slow_stop) {
    spdlog::info("stopping slowly ({})", formatDuration(cfg.delay));
    std::this_thread::sleep_for(cfg.delay);
  }
  return 0;
}

}  // namespace reporthub::inputs::testproc
