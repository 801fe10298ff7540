// The common output loop; see output.h.
#include "outputs/output.h"

#include "common/child_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace reporthub::outputs {

wire::Status Output::deliverView(const ReportView& report, const wire::Deliver& d,
                                 std::string& reason) {
  assign(copy_, report);
  return deliver(copy_, d, reason);
}

std::uint64_t answerEvery(std::uint32_t window) {
  return std::clamp<std::uint64_t>(window / 2, 1, 512);
}

int runOutput(ChildContext& ctx, Output& output, std::uint32_t window) {
  ChildLink link(ctx.zmq, {ctx.endpoint, ctx.role, ctx.id, wire::Kind::output, window});
  const std::uint64_t ack_every = answerEvery(window);

  std::uint64_t done = 0;       // every seq <= done is handled (delivered or failed)
  std::uint64_t reported = 0;   // what the hub was last told
  std::uint64_t retry_seq = 0;  // waiting for the hub to redeliver this seq
  std::uint64_t malformed = 0;
  std::uint64_t duplicates = 0;  // redeliveries recognised by report id and skipped

  auto tellHub = [&](wire::Status status, std::uint64_t seq, std::string reason) {
    link.sendResult(wire::Result{done, status, seq, std::move(reason)});
    reported = done;
  };

  ReportView report;  // reused: its vectors keep their capacity from one report to the next
  link.on_deliver = [&](const wire::Deliver& d, std::string_view body) {
    if (retry_seq != 0) {
      // After a retry answer, everything the hub had already sent is stale: it resends
      // from retry_seq after its backoff.
      if (d.seq != retry_seq) return;
      retry_seq = 0;
    }
    if (d.seq <= done) return;  // a redelivery of something already handled
    std::string reason = decodeReport(body, report);
    wire::Status st = wire::Status::failed;
    if (!reason.empty()) {
      if (malformed++ == 0)
        spdlog::error("malformed report {} ({}); counted and skipped", d.id, reason);
      reason = "malformed report: " + reason;
    } else if (output.seen(report.id)) {
      ++duplicates;
      st = wire::Status::ok;
    } else {
      st = output.deliverView(report, d, reason);
    }
    if (st == wire::Status::ok) {
      done = d.seq;
      return;
    }
    // Everything before this one must be durable before the hub hears about it.
    std::string flush_reason;
    if (output.flush(flush_reason) != wire::Status::ok) {
      retry_seq = reported + 1;
      done = reported;
      tellHub(wire::Status::retry, retry_seq, flush_reason);
      return;
    }
    if (st == wire::Status::retry) {
      retry_seq = d.seq;
      tellHub(st, d.seq, reason);
    } else {
      tellHub(st, d.seq, reason);
      done = d.seq;
    }
  };
  link.on_coming = [&](const wire::Deliver& d) { output.expect(d); };
  bool flush_asked = false;  // DMStop stage 2: nothing more is coming, so hold nothing back
  link.on_control = [&](const std::string& cmd) {
    if (cmd == "reopen") output.reopen();
    if (cmd == "flush") flush_asked = true;
  };

  link.ready();
  for (;;) {
    const bool stopping = link.stopRequested();
    const bool hold_none = stopping || flush_asked;
    const bool ack_due = done - reported >= ack_every;
    const Duration hold =
        done > reported && !hold_none && !ack_due ? output.holdFor() : Duration(0);
    const bool idle_wait = (done == reported || hold.count() > 0) && !stopping;
    const Duration wait = hold.count() > 0
                              ? std::min<Duration>(hold, std::chrono::milliseconds(500))
                              : std::chrono::milliseconds(500);
    const bool busy = link.pump(idle_wait ? wait : Duration(0));
    // Flush when the queue runs dry (and a batching output has gathered long enough), or
    // after ack_every deliveries.
    const bool gathered = ack_due || hold_none || output.holdFor().count() == 0;
    if (done > reported && ((!busy && gathered) || ack_due)) {
      std::string reason;
      if (output.flush(reason) == wire::Status::ok) {
        tellHub(wire::Status::ok, 0, {});
      } else {
        // Nothing after `reported` is durable: ask the hub to send it all again later.
        retry_seq = reported + 1;
        done = reported;
        tellHub(wire::Status::retry, retry_seq, reason);
      }
    }
    // Stop only with nothing received left undone and the hub told about all of it.
    if (link.stopRequested() && !busy && done == reported) break;
  }
  spdlog::info("stopping: all received deliveries handled ({} duplicates skipped)", duplicates);
  return 0;
}

}  // namespace reporthub::outputs
