// The hub's store of accepted reports and their per-output delivery state. A report stays
// until every output it is routed to has acknowledged it. This version keeps entries in
// memory; the durable on-disk journal (issue: never lose a report) replaces its insides
// behind the same interface.
#pragma once

#include "routing/router.h"

#include <zmq.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace reporthub::hub {

struct Entry {
  std::uint64_t seq = 0;
  std::string id;
  zmq::message_t body;                          // the encoded report, never decoded here
  std::shared_ptr<const routing::Route> route;  // keeps the routing table it was routed by
  std::uint8_t pending = 0;                     // sinks that have not acknowledged it
};

class Journal {
 public:
  // Stores a report and returns its sequence number (from 1, increasing).
  std::uint64_t append(std::string id, zmq::message_t body,
                       std::shared_ptr<const routing::Route> route);

  // The first entry routed to `sink` with seq > after, or nullptr.
  const Entry* next(routing::Sink sink, std::uint64_t after) const;

  // `sink` has acknowledged every entry routed to it with seq <= upto.
  void ack(routing::Sink sink, std::uint64_t upto);

  // Entries routed to `sink` that it has not acknowledged.
  std::uint64_t backlog(routing::Sink sink) const { return backlog_[index(sink)]; }
  std::uint64_t acked(routing::Sink sink) const { return acked_[index(sink)]; }
  std::size_t size() const { return entries_.size(); }
  std::uint64_t lastSeq() const { return next_seq_ - 1; }

 private:
  static std::size_t index(routing::Sink s) { return static_cast<std::size_t>(s); }
  std::deque<Entry> entries_;  // entries_[i].seq == base_ + i
  std::uint64_t base_ = 1;
  std::uint64_t next_seq_ = 1;
  std::array<std::uint64_t, routing::kSinkCount> backlog_{};
  std::array<std::uint64_t, routing::kSinkCount> acked_{};
};

}  // namespace reporthub::hub
