// Tests for outputs/ns_send/outbox: remote seqs per session, the hub told strictly in order
// (a delivery with several targets only when all are acknowledged, failures in place), a
// resend after a lost session, and the retry after a timeout without progress.
#include "outputs/ns_send/outbox.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::outputs::ns_send;
using namespace std::chrono_literals;

namespace {

std::vector<Part> parts(std::size_t n, const std::string& id = "r") {
  std::vector<Part> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].submit.id = id;
    out[i].submit.recipient = "rcpt" + std::to_string(i);
    out[i].body = zmq::message_t(std::string_view("body"));
  }
  return out;
}

// Sends everything the credit allows; returns the remote seqs used.
std::vector<std::uint64_t> sendAll(Outbox& box, std::uint64_t credit = 1000) {
  std::vector<std::uint64_t> seqs;
  while (Part* p = box.nextToSend(credit)) {
    seqs.push_back(p->submit.seq);
    box.sent();
  }
  return seqs;
}

}  // namespace

TEST_CASE("the hub hears of a delivery only when all its targets are acknowledged", "[ns_send]") {
  Outbox box;
  const auto t0 = Clock::now();
  box.add(10, parts(1), t0);
  box.add(12, parts(2), t0);  // two targets on the node: two remote reports
  box.add(15, parts(1), t0);
  CHECK(sendAll(box) == std::vector<std::uint64_t>{1, 2, 3, 4});

  box.acked(2, t0);  // 10 and the first part of 12
  auto r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == wire::Status::ok);
  CHECK(r[0].upto == 10);

  box.acked(3, t0);
  r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].upto == 12);

  box.acked(3, t0);  // repeated: nothing new
  CHECK(box.takeResults().empty());
  box.acked(9, t0);  // never sent: ignored
  CHECK(box.takeResults().empty());
  box.acked(4, t0);
  r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].upto == 15);
  CHECK(box.empty());
}

TEST_CASE("credit bounds what goes out", "[ns_send]") {
  Outbox box;
  const auto t0 = Clock::now();
  for (std::uint64_t s = 1; s <= 5; ++s)
    box.add(s, parts(1), t0);
  CHECK(sendAll(box, 3).size() == 3);
  CHECK(box.unsent() == 2);
  box.acked(3, t0);
  CHECK(sendAll(box, 5) == std::vector<std::uint64_t>{4, 5});
}

TEST_CASE("a failed delivery is reported in its place", "[ns_send]") {
  Outbox box;
  const auto t0 = Clock::now();
  box.add(1, parts(1), t0);
  box.addFailed(2, "bad body", t0);
  box.add(3, parts(1), t0);
  CHECK(sendAll(box) == std::vector<std::uint64_t>{1, 2});
  CHECK(box.takeResults().empty());  // 2 waits for 1
  box.acked(1, t0);
  auto r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == wire::Status::failed);
  CHECK(r[0].upto == 1);
  CHECK(r[0].seq == 2);
  CHECK(r[0].reason == "bad body");
  box.acked(2, t0);
  r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == wire::Status::ok);
  CHECK(r[0].upto == 3);

  // Alone at the front it is reported at once.
  box.addFailed(4, "again", t0);
  r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].seq == 4);
  CHECK(r[0].upto == 3);
}

TEST_CASE("a new session resends everything unacknowledged from remote seq 1", "[ns_send]") {
  Outbox box;
  const auto t0 = Clock::now();
  box.add(1, parts(1, "a"), t0);
  box.add(2, parts(1, "b"), t0);
  box.add(3, parts(1, "c"), t0);
  sendAll(box);
  box.acked(1, t0);
  box.takeResults();
  box.restartSession();
  std::vector<std::string> ids;
  while (Part* p = box.nextToSend(100)) {
    ids.push_back(p->submit.id + std::to_string(p->submit.seq));
    box.sent();
  }
  CHECK(ids == std::vector<std::string>{"b1", "c2"});
  box.acked(2, t0);
  auto r = box.takeResults();
  REQUIRE(r.size() == 1);
  CHECK(r[0].upto == 3);
}

TEST_CASE("without progress for the timeout everything held goes back to the hub", "[ns_send]") {
  Outbox box;
  const auto t0 = Clock::now();
  box.add(1, parts(1), t0);
  box.add(2, parts(1), t0 + 1s);
  box.add(3, parts(1), t0 + 1s);
  sendAll(box);
  CHECK(box.deadline(10s) == t0 + 10s);
  CHECK_FALSE(box.expire(t0 + 9s, 10s, "x"));
  box.acked(1, t0 + 9s);  // progress restarts the clock
  CHECK(box.deadline(10s) == t0 + 19s);
  CHECK_FALSE(box.expire(t0 + 18s, 10s, "x"));
  auto r = box.expire(t0 + 19s, 10s, "link to hq: down");
  REQUIRE(r);
  CHECK(r->status == wire::Status::retry);
  CHECK(r->upto == 1);
  CHECK(r->seq == 2);
  CHECK(r->reason == "link to hq: down");
  CHECK(box.empty());
  // Late acknowledgements of the dropped reports move nothing.
  box.acked(3, t0 + 20s);
  auto results = box.takeResults();
  REQUIRE(results.size() == 1);  // the ok for 1, from before
  CHECK(results[0].upto == 1);
  box.add(2, parts(1), t0 + 21s);
  CHECK(sendAll(box) == std::vector<std::uint64_t>{4});
}
