// ns_receive's bookkeeping between remote senders and its own hub: which reports it has
// already taken (a bounded memory of (id, recipient)), which local submit each remote report
// became, and so, as the hub acknowledges local seqs, how far each sender may be told its
// reports are safe. Plain values: no sockets.
#pragma once

#include "outputs/recent_ids.h"

#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>
#include <vector>

namespace reporthub::inputs::ns_receive {

class Inbox {
 public:
  using PeerId = std::uint64_t;  // one link session

  // `memory`: how many (id, recipient) keys are remembered for duplicate suppression. A
  // sender resends at most its window after a reconnect, far fewer than this.
  explicit Inbox(std::size_t memory = 200'000) : seen_(memory) {}

  enum class Verdict { submit, duplicate };
  // A report from `peer` (its remote seq, in order). `submit`: the caller submits it to the
  // hub as the next local seq (localSeqs() counts them); `duplicate`: it is not submitted
  // again and is acknowledged once everything submitted so far is (the first copy with it).
  Verdict offer(PeerId peer, std::uint64_t remote_seq, std::string_view id,
                std::string_view recipient);
  // A report refused here (not submitted): acknowledged in order with the rest.
  void skip(PeerId peer, std::uint64_t remote_seq);
  // The hub acknowledged every local seq <= upto.
  void hubAcked(std::uint64_t upto);

  // (peer, remote seq) pairs: each peer's reports through that seq are now acknowledged.
  // Taken by the caller; one pair per peer, the highest.
  std::vector<std::pair<PeerId, std::uint64_t>> takeAcks();

  std::uint64_t localSeqs() const { return local_; }
  std::size_t waiting() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t local;  // acknowledged when the hub has acknowledged this local seq
    PeerId peer;
    std::uint64_t remote;
  };
  void release();

  outputs::RecentIds seen_;
  std::string key_;  // reused buffer for id + recipient
  std::deque<Entry> entries_;
  std::uint64_t local_ = 0;      // local seqs handed out (submitted or queued to submit)
  std::uint64_t hub_acked_ = 0;  // the hub acknowledged local seqs through this
  std::vector<std::pair<PeerId, std::uint64_t>> acks_;
};

}  // namespace reporthub::inputs::ns_receive
