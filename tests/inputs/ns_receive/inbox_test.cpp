// Tests for inputs/ns_receive/inbox: each sender hears an acknowledgement only for what the
// hub acknowledged, in its own order; a duplicate is not submitted again and is acknowledged
// with its first copy; refused reports keep the order.
#include "inputs/ns_receive/inbox.h"

#include <catch2/catch.hpp>

using namespace reporthub::inputs::ns_receive;

namespace {

using Acks = std::vector<std::pair<Inbox::PeerId, std::uint64_t>>;

}  // namespace

TEST_CASE("senders are acknowledged as the hub acknowledges their local seqs", "[ns_receive]") {
  Inbox inbox;
  CHECK(inbox.offer(1, 1, "a", "operator") == Inbox::Verdict::submit);  // local 1
  CHECK(inbox.offer(2, 1, "b", "operator") == Inbox::Verdict::submit);  // local 2
  CHECK(inbox.offer(1, 2, "c", "operator") == Inbox::Verdict::submit);  // local 3
  CHECK(inbox.localSeqs() == 3);
  CHECK(inbox.takeAcks().empty());
  inbox.hubAcked(2);
  CHECK(inbox.takeAcks() == Acks{{1, 1}, {2, 1}});
  inbox.hubAcked(3);
  CHECK(inbox.takeAcks() == Acks{{1, 2}});
  CHECK(inbox.waiting() == 0);
}

TEST_CASE("a duplicate is acknowledged with its first copy, not submitted", "[ns_receive]") {
  Inbox inbox;
  CHECK(inbox.offer(1, 1, "a", "operator") == Inbox::Verdict::submit);
  // The sender lost its link and resends on a new session before the first copy is acked.
  CHECK(inbox.offer(2, 1, "a", "operator") == Inbox::Verdict::duplicate);
  CHECK(inbox.localSeqs() == 1);
  CHECK(inbox.takeAcks().empty());
  inbox.hubAcked(1);
  CHECK(inbox.takeAcks() == Acks{{1, 1}, {2, 1}});
  // Once acknowledged, a later copy is acknowledged at once.
  CHECK(inbox.offer(3, 1, "a", "operator") == Inbox::Verdict::duplicate);
  CHECK(inbox.takeAcks() == Acks{{3, 1}});
  // The same id for another recipient here is not a duplicate.
  CHECK(inbox.offer(3, 2, "a", "printer") == Inbox::Verdict::submit);
}

TEST_CASE("refused reports are acknowledged in order", "[ns_receive]") {
  Inbox inbox;
  inbox.offer(1, 1, "a", "operator");
  inbox.skip(1, 2);  // waits behind local 1
  CHECK(inbox.takeAcks().empty());
  inbox.hubAcked(1);
  CHECK(inbox.takeAcks() == Acks{{1, 2}});
  inbox.skip(1, 3);  // nothing pending: at once
  CHECK(inbox.takeAcks() == Acks{{1, 3}});
}

TEST_CASE("the duplicate memory is bounded", "[ns_receive]") {
  Inbox inbox(2);
  inbox.offer(1, 1, "a", "r");
  inbox.offer(1, 2, "b", "r");
  inbox.offer(1, 3, "c", "r");  // forgets "a"
  CHECK(inbox.offer(1, 4, "a", "r") == Inbox::Verdict::submit);
  CHECK(inbox.offer(1, 5, "c", "r") == Inbox::Verdict::duplicate);
}
