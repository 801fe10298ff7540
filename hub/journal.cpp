// In-memory journal; see journal.h.
#include "hub/journal.h"

namespace reporthub::hub {

std::uint64_t Journal::append(std::string id, zmq::message_t body,
                              std::shared_ptr<const routing::Route> route) {
  Entry e;
  e.seq = next_seq_++;
  e.id = std::move(id);
  e.body = std::move(body);
  e.pending = route->sink_mask;
  for (const auto& d : route->sinks)
    ++backlog_[index(d.sink)];
  e.route = std::move(route);
  if (e.pending == 0) {
    // Routed nowhere (a category whose recipients are all gone): nothing to wait for.
    if (entries_.empty())
      base_ = next_seq_;
    else
      entries_.push_back(std::move(e));
    return next_seq_ - 1;
  }
  if (entries_.empty()) base_ = e.seq;
  entries_.push_back(std::move(e));
  return next_seq_ - 1;
}

const Entry* Journal::next(routing::Sink sink, std::uint64_t after) const {
  const std::uint8_t b = routing::bit(sink);
  std::uint64_t seq = std::max(after + 1, base_);
  for (; seq < next_seq_; ++seq) {
    const Entry& e = entries_[seq - base_];
    if (e.pending & b) return &e;
  }
  return nullptr;
}

void Journal::ack(routing::Sink sink, std::uint64_t upto) {
  const std::uint8_t b = routing::bit(sink);
  std::uint64_t& cursor = acked_[index(sink)];
  if (upto <= cursor) return;
  for (std::uint64_t seq = std::max(cursor + 1, base_); seq <= upto && seq < next_seq_; ++seq) {
    Entry& e = entries_[seq - base_];
    if (e.pending & b) {
      e.pending &= static_cast<std::uint8_t>(~b);
      --backlog_[index(sink)];
    }
  }
  cursor = upto;
  while (!entries_.empty() && entries_.front().pending == 0) {
    entries_.pop_front();
    ++base_;
  }
}

}  // namespace reporthub::hub
