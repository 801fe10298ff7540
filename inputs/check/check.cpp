// The check process; see check.h. One thread: the runner's poll also watches the hub socket
// and the signalfd, and desk changes and stop requests from the hub are applied between
// rounds, never from inside one (a submit can pump the hub socket in the middle of a round).
#include "inputs/check/check.h"

#include "common/child_link.h"
#include "config/config.h"
#include "inputs/check/runner.h"

#include <spdlog/spdlog.h>

#include <optional>

namespace reporthub::inputs::check {

int main(ChildContext& ctx) {
  if (!ctx.config.inputs.check) {
    spdlog::error("the config has no inputs.check section; exiting");
    return 2;
  }
  ChildLink link(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::input});
  std::optional<bool> desk_change;
  link.on_control = [&](const std::string& cmd) {
    if (cmd == "deskon") desk_change = true;
    if (cmd == "deskoff") desk_change = false;
  };

  Runner runner(*ctx.config.inputs.check,
                RunnerOptions{ctx.config.node, ctx.config.state_dir / "check.state",
                              ctx.config.file.parent_path()},
                [&](const Report& r) { return link.submit(r); });
  runner.start(link.deskOn());
  link.ready();

  std::vector<zmq::pollitem_t> extra{{link.socket().handle(), 0, ZMQ_POLLIN, 0},
                                     {nullptr, link.signalFd(), ZMQ_POLLIN, 0}};
  while (!runner.finished()) {
    if (desk_change) {
      runner.setDesk(*desk_change);
      desk_change.reset();
    }
    if (link.stopRequested()) runner.requestStop();
    if (runner.finished()) break;
    runner.step(extra, std::chrono::seconds(1));
    if (extra[0].revents || extra[1].revents) link.pump(Duration(0));
  }
  runner.logSummary(true);
  // The hub acknowledges once the last results are journaled; DMStop waits for this exit.
  if (!link.waitAcked(std::chrono::seconds(30))) {
    spdlog::warn(
        "{} of {} reports not acknowledged by the hub within 30s; exiting anyway (the "
        "hub journals what reached it)",
        link.submitted() - link.acked(), link.submitted());
  }
  return 0;
}

}  // namespace reporthub::inputs::check
