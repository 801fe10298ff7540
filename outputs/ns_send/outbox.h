// What ns_send holds for one remote node: the hub's deliveries, each split into one remote
// report per target, in hub order; which of them went out on the current link session and
// under which remote seq; and, as the remote node acknowledges, the Results the hub must
// hear, strictly in order. Plain values and a clock handed in: no sockets.
#pragma once

#include "common/duration.h"
#include "common/wire.h"

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace reporthub::outputs::ns_send {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// One report for the remote node: the Submit to send (seq set when it goes out) and its body.
struct Part {
  wire::Submit submit;
  zmq::message_t body;
};

class Outbox {
 public:
  // A delivery from the hub, split into its parts (one per target, at least one).
  void add(std::uint64_t hub_seq, std::vector<Part> parts, TimePoint now);
  // A delivery that can never be sent (its body does not decode): the hub hears "failed"
  // for it once everything before it is acknowledged.
  void addFailed(std::uint64_t hub_seq, std::string reason, TimePoint now);

  // The next part to send on the current session, with its remote seq set; nullptr if none
  // is waiting or `credit` (the highest remote seq the receiver accepts) is used up.
  Part* nextToSend(std::uint64_t credit);
  // The part nextToSend returned went out.
  void sent();

  // A new link session: everything not acknowledged goes out again, from remote seq 1.
  void restartSession();

  // The remote node acknowledged every remote seq <= upto (this session).
  void acked(std::uint64_t upto, TimePoint now);

  // When the oldest part has waited `timeout` without progress: the retry Result for the
  // hub (seq = its hub seq). Everything held is dropped then; the hub resends after its
  // backoff and the receiver suppresses what it already has.
  std::optional<wire::Result> expire(TimePoint now, Duration timeout, const std::string& reason);
  // When expire() would next fire, if anything is held.
  std::optional<TimePoint> deadline(Duration timeout) const;

  // Results owed to the hub, in order; taken by the caller.
  std::vector<wire::Result> takeResults();

  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  std::size_t unsent() const { return items_.size() - sent_; }
  // Every hub seq <= done() is acknowledged (or failed) and told to the hub.
  std::uint64_t done() const { return done_; }
  std::uint64_t nextRemoteSeq() const { return next_remote_; }

 private:
  struct Item {
    std::uint64_t hub_seq = 0;
    std::uint64_t remote_seq = 0;  // 0: not sent on this session
    bool last_of_delivery = false;
    std::string failed;  // non-empty: never sent; reported as failed in order
    Part part;
    TimePoint since;
  };
  // Pops acknowledged and failed items from the front and records the Results.
  void drain();

  std::deque<Item> items_;
  std::size_t sent_ = 0;  // items_[0, sent_) went out this session (failed ones count)
  std::uint64_t next_remote_ = 1;
  std::uint64_t acked_remote_ = 0;
  std::uint64_t done_ = 0;
  std::uint64_t told_ = 0;  // done_ as last put in a Result
  TimePoint progress_{};    // last time an acknowledgement moved the front
  std::vector<wire::Result> results_;
};

}  // namespace reporthub::outputs::ns_send
