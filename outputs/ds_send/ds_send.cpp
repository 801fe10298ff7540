// The ds_send output; see ds_send.h and README.md (what a server restart can lose, and why
// the batch is confirmed only after the server's TCP acknowledged it).
#include "outputs/ds_send/ds_send.h"

#include "common/lock.h"
#include "common/syslog.h"
#include "outputs/ds_send/ds_lock_watch.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace reporthub::outputs::ds_send {

namespace {

// Written out without waiting once a batch holds this much, so the server is already
// reading while the rest of the batch is formatted.
constexpr std::size_t kEagerWrite = 64 * 1024;

// What is kept of the batches confirmed on a connection, to send again if it ends in a
// reset. A live server reads within milliseconds, so what it can have left unread is what
// arrived since it stopped reading: at most its receive buffer (Linux's default maximum is
// 6 MiB; in practice a few hundred KiB).
constexpr std::size_t kReplayBytes = 4 * 1024 * 1024;

// Report ids remembered for duplicate suppression. A redelivery comes from what the hub has
// not seen confirmed, at most a window or two (1024 each) behind; a small table also stays
// in the CPU's caches, where a lookup per report costs little (with 100,000 ids, the
// lookups and evictions were a third of ds_send's CPU time).
constexpr std::size_t kRememberedIds = 16 * 1024;

}  // namespace

std::filesystem::path deliveredIdsPath(const config::Config& cfg) {
  return cfg.state_dir / "ds_send.delivered";
}

DsSend::DsSend(const config::Config& cfg)
    : format_{cfg.outputs.ds_send->facility, cfg.outputs.ds_send->app_name},
      conn_(cfg.outputs.ds_send->target, cfg.outputs.ds_send->timeout),
      delivered_((std::filesystem::create_directories(cfg.state_dir), deliveredIdsPath(cfg)),
                 kRememberedIds) {
  spdlog::info(
      "forwarding to syslog server {} as RFC 5424 (facility {}, app name {}); {} delivered "
      "report ids loaded from {}",
      conn_.peer(), syslog::facilityName(format_.facility), format_.app_name, delivered_.loaded(),
      delivered_.file().string());
}

void DsSend::down(const std::string& error) {
  if (failures_++ == 0) {
    spdlog::warn(
        "{}; the reports for ds_send wait in the hub's journal and are sent when the server "
        "takes them again (the hub retries with backoff)",
        error);
  }
}

void DsSend::dropBatch() {
  if (batch_ > 0) ++counters_.resent_batches;
  buffer_.clear();
  written_ = 0;
  resent_in_buffer_ = 0;
  batch_ = 0;
  delivered_.rollback();
  conn_.close();
}

void DsSend::broke() {
  if (conn_.closedCleanly() || confirmed_.empty()) {
    confirmed_.clear();
    confirmed_bytes_ = 0;
    return;
  }
  // Not an orderly close: the server may not have read all it acknowledged. Those
  // batches are confirmed to the hub already, so ds_send sends them again itself.
  std::uint64_t reports = 0;
  for (const auto& b : confirmed_)
    reports += b.reports;
  spdlog::warn(
      "the connection to syslog server {} did not end in order: the {} report(s) ({} bytes) "
      "confirmed last on it are sent again on the next connection, since the server may not "
      "have read them (it may see some twice)",
      conn_.peer(), reports, confirmed_bytes_);
  counters_.resent_reports += reports;
  for (auto& b : confirmed_)
    resend_.push_back(std::move(b));
  confirmed_.clear();
  confirmed_bytes_ = 0;
  std::size_t bytes = 0;
  for (const auto& b : resend_)
    bytes += b.frames.size();
  while (bytes > kReplayBytes && resend_.size() > 1) {
    bytes -= resend_.front().frames.size();
    resend_.pop_front();
  }
}

std::uint64_t DsSend::awaitingResend() const {
  std::uint64_t n = 0;
  for (const auto& b : resend_)
    n += b.reports;
  return n;
}

void DsSend::note(const Report& r, const FormatNotes& n) {
  counters_.bad_attr_names += n.bad_attr_names;
  counters_.attrs_left_out += n.attrs_left_out;
  counters_.utf8_replaced += n.utf8_replaced;
  counters_.truncated += n.truncated;
  // Each kind once per process: the counts come at exit.
  if (n.bad_attr_names > 0 && !said_bad_attr_) {
    said_bad_attr_ = true;
    spdlog::warn(
        "report {}: {} attr(s) have names that cannot be RFC 5424 SD-NAMEs (1-32 printable "
        "ASCII characters without space, '=', ']' or '\"'; or id, category, source, via); "
        "left out of the structured data, the message is sent without them (counted, said once)",
        r.id, n.bad_attr_names);
  }
  if (n.attrs_left_out > 0 && !said_left_out_) {
    said_left_out_ = true;
    spdlog::warn(
        "report {}: {} attr(s) did not fit into a syslog message of {} bytes; left out, the "
        "message is sent without them (counted, said once)",
        r.id, n.attrs_left_out, format_.max_message);
  }
  if (n.utf8_replaced > 0 && !said_utf8_) {
    said_utf8_ = true;
    spdlog::warn(
        "report {}: {} invalid UTF-8 sequence(s) replaced by U+FFFD, as RFC 5424 wants UTF-8 "
        "(counted, said once)",
        r.id, n.utf8_replaced);
  }
  if (n.truncated && !said_cut_) {
    said_cut_ = true;
    spdlog::warn(
        "report {}: cut to RFC 5424's field limits or to {} bytes per message; sent "
        "truncated (counted, said once)",
        r.id, format_.max_message);
  }
}

wire::Status DsSend::deliver(const Report& r, const wire::Deliver&, std::string& reason) {
  if (batch_ == 0 && conn_.isOpen()) {
    // The server may have gone since the last batch: find out before writing into a
    // connection that would swallow this batch too.
    std::string why;
    if (conn_.peerGone(why)) {
      if (conn_.closedCleanly()) {
        spdlog::info("{} since the last batch (it had read everything); reconnecting", why);
      } else {
        spdlog::warn("{} since the last batch; reconnecting", why);
      }
      broke();
    }
  }
  if (!conn_.isOpen()) {
    std::string error;
    if (!conn_.open(error)) {
      down(error);
      reason = error;
      return wire::Status::retry;
    }
    if (failures_ > 0) {
      spdlog::info("connected to syslog server {} again after {} failed attempt(s)", conn_.peer(),
                   failures_);
    } else {
      spdlog::info("connected to syslog server {}", conn_.peer());
    }
    failures_ = 0;
    broken_.clear();
    // What the last connection may have left unread goes first, ahead of this batch.
    for (const auto& b : resend_) {
      buffer_ += b.frames;
      resent_in_buffer_ += b.reports;
    }
  }
  FormatNotes notes;
  const std::string message = formatMessage(r, format_, notes);
  if (notes.bad_attr_names || notes.attrs_left_out || notes.utf8_replaced || notes.truncated)
    note(r, notes);
  appendFrame(buffer_, message);
  delivered_.add(r.id);
  ++batch_;
  if (buffer_.size() - written_ >= kEagerWrite) {
    std::string error;
    if (!conn_.sendSome(buffer_, written_, error)) {
      down(error);
      broke();
      broken_ = error;
      reason = error;
      return wire::Status::retry;
    }
  }
  return wire::Status::ok;
}

wire::Status DsSend::flush(std::string& reason) {
  if (batch_ == 0) return wire::Status::ok;
  std::string error = broken_;
  // Right after the acknowledgement, one more look: a server that closed or reset the
  // connection at that moment may not have read the batch, so it is sent again (and the
  // server may see some of it twice) rather than confirmed.
  const bool sent =
      error.empty() && conn_.sendAll(buffer_, written_, error) && !conn_.peerGone(error);
  if (!sent) {
    down(error);
    if (broken_.empty()) broke();
    reason = error;
    broken_.clear();
    dropBatch();
    return wire::Status::retry;
  }
  std::string commit_error;
  if (!delivered_.commit(commit_error)) {
    spdlog::error(
        "{}; the batch of {} report(s) went to the syslog server but is not recorded, and "
        "is sent again if the hub redelivers it",
        commit_error, batch_);
  }
  counters_.sent += batch_;
  // Kept until the connection ends well or the bound pushes it out; what waited to be
  // sent again has been, with this batch.
  resend_.clear();
  confirmed_.push_back({std::move(buffer_), batch_ + resent_in_buffer_});
  resent_in_buffer_ = 0;
  confirmed_bytes_ += confirmed_.back().frames.size();
  while (confirmed_bytes_ > kReplayBytes && confirmed_.size() > 1) {
    confirmed_bytes_ -= confirmed_.front().frames.size();
    confirmed_.pop_front();
  }
  buffer_.clear();
  written_ = 0;
  batch_ = 0;
  return wire::Status::ok;
}

int main(ChildContext& ctx) {
  if (!ctx.config.outputs.ds_send) {
    spdlog::critical("outputs.ds_send is not in the config; exiting");
    return 2;
  }
  const pid_t hub = getppid();
  const auto lock = ctx.config.dsLockPath();
  if (const auto problem = lockNotHeldBy(lock, hub); !problem.empty()) {
    spdlog::error(
        "{}: DS transport is not available, so ds_send exits (the reports for ds_send wait "
        "in the hub's journal)",
        problem);
    return 1;
  }
  DsSend output(ctx.config);
  // Exits from the watch thread: the main loop may be waiting on the server for up to the
  // timeout, and nothing it holds is lost (the hub sends again what was not confirmed).
  DsLockWatch watch(lock, hub, std::chrono::seconds(1), [](const std::string& problem) {
    spdlog::error(
        "{}: DS transport is no longer available, so ds_send exits now (what it had not "
        "confirmed waits in the hub's journal)",
        problem);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  });
  const int rc = runOutput(ctx, output);
  if (const auto n = output.awaitingResend(); n > 0) {
    spdlog::warn(
        "stopping with {} report(s) that syslog server {} may not have read before its "
        "connection was reset, not sent again (no connection since); they may be missing "
        "there",
        n, output.connection().peer());
  }
  const auto& c = output.counters();
  spdlog::info(
      "{} message(s) sent to {} over {} connection(s); {} batch(es) sent again after a broken "
      "connection, and {} confirmed report(s) after a reset; {} attr(s) without a valid name "
      "and {} without room left out, {} invalid UTF-8 sequence(s) replaced, {} message(s) "
      "truncated",
      c.sent, output.connection().peer(), output.connection().connects(), c.resent_batches,
      c.resent_reports, c.bad_attr_names, c.attrs_left_out, c.utf8_replaced, c.truncated);
  return rc;
}

}  // namespace reporthub::outputs::ds_send
