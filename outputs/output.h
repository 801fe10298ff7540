// The shape every output shares (DESIGN §2, Fluent Bit's out_* plugins): receive a
// delivery, do it, answer ok / retry / failed. The hub owns retries and backoff; an output
// never drops a report by giving up on its own.
#pragma once

#include "common/duration.h"
#include "common/report.h"
#include "common/role.h"
#include "common/wire.h"

#include <string>

namespace reporthub::outputs {

class Output {
 public:
  virtual ~Output() = default;

  // Does (or buffers) one delivery. On retry or failed, sets `reason`.
  virtual wire::Status deliver(const Report& report, const wire::Deliver& d,
                               std::string& reason) = 0;

  // The same, with the report's fields as views into its bytes, valid during the call; the
  // loop calls this one. It copies them into a Report for deliver(); an output that reads
  // each report once (local's line) overrides it and skips the copy.
  virtual wire::Status deliverView(const ReportView& report, const wire::Deliver& d,
                                   std::string& reason);

  // Makes everything delivered so far durable where it goes; called when no delivery is
  // waiting, and before the hub is told. The default has nothing buffered.
  virtual wire::Status flush(std::string& /*reason*/) { return wire::Status::ok; }

  // How much longer to gather deliveries before flush, for an output that batches (the
  // printer's one job per interval). Zero: flush as soon as the queue runs dry. A stop
  // request or answerEvery(window) deliveries flush regardless.
  virtual Duration holdFor() { return Duration(0); }

  // Reopen files (SIGHUP, for logrotate).
  virtual void reopen() {}

  // This delivery comes a few deliveries from now: an output may start loading what it
  // will look up for it, so the load overlaps the deliveries before it.
  virtual void expect(const wire::Deliver& /*d*/) {}

  // Whether the report with this id was already delivered here, by this process or one
  // before it. Delivery is at least once; this is how the operator still sees each report
  // once. deliver() follows every false answer, so an output may record the id here already.
  virtual bool seen(std::string_view /*id*/) { return false; }

 private:
  Report copy_;  // for deliver(ReportView): its strings keep their capacity
};

// While deliveries keep coming, an output flushes and answers after this many: half its
// window, so the hub keeps sending, and at most 512, so that a large window (local's)
// still writes each flush from the CPU cache.
std::uint64_t answerEvery(std::uint32_t window);

// Runs an output's loop until the hub asks it to stop and everything received is done.
// `window` bounds the deliveries the hub may have in flight to it. Returns the exit code.
int runOutput(ChildContext& ctx, Output& output, std::uint32_t window = 1024);

}  // namespace reporthub::outputs
