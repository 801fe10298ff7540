// ns_receive's duplicate suppression and ack mapping; see inbox.h.
#include "inputs/ns_receive/inbox.h"

namespace reporthub::inputs::ns_receive {

Inbox::Verdict Inbox::offer(PeerId peer, std::uint64_t remote_seq, std::string_view id,
                            std::string_view recipient) {
  // The same report may legitimately go to two recipients here: the key is both.
  key_.assign(id);
  key_ += '\n';
  key_ += recipient;
  if (seen_.contains(key_)) {
    entries_.push_back({local_, peer, remote_seq});
    release();
    return Verdict::duplicate;
  }
  seen_.add(key_);
  seen_.commit();
  entries_.push_back({++local_, peer, remote_seq});
  return Verdict::submit;
}

void Inbox::skip(PeerId peer, std::uint64_t remote_seq) {
  entries_.push_back({local_, peer, remote_seq});
  release();
}

void Inbox::hubAcked(std::uint64_t upto) {
  if (upto <= hub_acked_) return;
  hub_acked_ = upto;
  release();
}

void Inbox::release() {
  while (!entries_.empty() && entries_.front().local <= hub_acked_) {
    const Entry& e = entries_.front();
    // Entries of one peer come in remote order, so the last one seen is its highest.
    if (!acks_.empty() && acks_.back().first == e.peer) {
      acks_.back().second = e.remote;
    } else {
      bool found = false;
      for (auto& a : acks_) {
        if (a.first == e.peer) {
          a.second = e.remote;
          found = true;
          break;
        }
      }
      if (!found) acks_.emplace_back(e.peer, e.remote);
    }
    entries_.pop_front();
  }
}

std::vector<std::pair<Inbox::PeerId, std::uint64_t>> Inbox::takeAcks() {
  std::vector<std::pair<PeerId, std::uint64_t>> out;
  out.swap(acks_);
  return out;
}

}  // namespace reporthub::inputs::ns_receive
