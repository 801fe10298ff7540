// ns_send's in-order bookkeeping; see outbox.h.
#include "outputs/ns_send/outbox.h"

namespace reporthub::outputs::ns_send {

void Outbox::add(std::uint64_t hub_seq, std::vector<Part> parts, TimePoint now) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Item& it = items_.emplace_back();
    it.hub_seq = hub_seq;
    it.last_of_delivery = i + 1 == parts.size();
    it.part = std::move(parts[i]);
    it.since = now;
  }
}

void Outbox::addFailed(std::uint64_t hub_seq, std::string reason, TimePoint now) {
  Item& it = items_.emplace_back();
  it.hub_seq = hub_seq;
  it.last_of_delivery = true;
  it.failed = std::move(reason);
  it.since = now;
  drain();
}

Part* Outbox::nextToSend(std::uint64_t credit) {
  while (sent_ < items_.size() && !items_[sent_].failed.empty())
    ++sent_;
  if (sent_ == items_.size() || next_remote_ > credit) return nullptr;
  Part& p = items_[sent_].part;
  p.submit.seq = next_remote_;
  return &p;
}

void Outbox::sent() {
  items_[sent_].remote_seq = next_remote_++;
  ++sent_;
}

void Outbox::restartSession() {
  for (Item& it : items_)
    it.remote_seq = 0;
  sent_ = 0;
  next_remote_ = 1;
  acked_remote_ = 0;
}

void Outbox::acked(std::uint64_t upto, TimePoint now) {
  // An acknowledgement of something never sent is the receiver's mistake; it moves nothing.
  if (upto <= acked_remote_ || upto >= next_remote_) return;
  acked_remote_ = upto;
  const std::size_t before = items_.size();
  drain();
  if (items_.size() != before) progress_ = now;
}

void Outbox::drain() {
  while (!items_.empty()) {
    Item& front = items_.front();
    if (!front.failed.empty()) {
      // Everything before it is done, so the hub can take both facts from one Result.
      results_.push_back({done_, wire::Status::failed, front.hub_seq, std::move(front.failed)});
      done_ = told_ = front.hub_seq;
    } else if (front.remote_seq != 0 && front.remote_seq <= acked_remote_) {
      // A delivery with several targets is done only when its last part is.
      if (front.last_of_delivery) done_ = front.hub_seq;
    } else {
      break;
    }
    items_.pop_front();
    if (sent_ > 0) --sent_;
  }
  if (done_ > told_) {
    results_.push_back({done_, wire::Status::ok, 0, {}});
    told_ = done_;
  }
}

std::optional<TimePoint> Outbox::deadline(Duration timeout) const {
  if (items_.empty()) return std::nullopt;
  return std::max(items_.front().since, progress_) + timeout;
}

std::optional<wire::Result> Outbox::expire(TimePoint now, Duration timeout,
                                           const std::string& reason) {
  auto due = deadline(timeout);
  if (!due || now < *due) return std::nullopt;
  wire::Result r{done_, wire::Status::retry, items_.front().hub_seq, reason};
  told_ = done_;
  items_.clear();
  sent_ = 0;
  return r;
}

std::vector<wire::Result> Outbox::takeResults() {
  std::vector<wire::Result> out;
  out.swap(results_);
  return out;
}

}  // namespace reporthub::outputs::ns_send
