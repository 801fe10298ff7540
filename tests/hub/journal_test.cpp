// Tests for hub/journal.cpp with routes from a real Router, in a temporary directory:
// sequence numbers, per-output cursors and cumulative acks, that a segment is released only
// once every output it holds reports for has acknowledged them, and that a reopened journal
// gives back exactly what was not acknowledged (DESIGN §3 "No loss").
#include "hub/journal.h"

#include "common/crc32c.h"

#include "routing/router.h"

#include <spdlog/spdlog.h>
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace reporthub;
using namespace reporthub::hub;

// The channels of the sample config's outputs. Router(cfg) numbers them in Sink order, as
// the journal's first format did and as a fresh journal still does.
namespace Sink {
constexpr routing::ChannelId local = 0, printer = 1, desksend = 2, ns_send = 3, ds_send = 4;
}

namespace {

config::Config sampleConfig() {
  config::Config cfg;
  cfg.node = "alpha";
  cfg.recipients = {
      {"operator", config::LocalRecipient{}},
      {"printer", config::PrinterRecipient{}},
      {"ops", config::MailRecipient{{"alice", "bob"}}},
  };
  cfg.categories = {
      {"LOCAL", {"operator"}},
      {"PRINT", {"printer"}},
      {"BOTH", {"operator", "printer"}},
      {"ALL", {"operator", "printer", "ops"}},
      {"NOWHERE", {}},
      {"default", {"operator"}},
  };
  return cfg;
}

using reporthub::test::TempDir;

// Keeps the journal's recovery warnings out of the test output; restores the level after.
class QuietLog {
 public:
  QuietLog() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~QuietLog() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

using Seqs = std::vector<std::uint64_t>;

// Owns a router and a journal directory; appends reports by category as the hub does, with
// each entry's route sharing ownership of the routing table it came from.
struct Fixture {
  QuietLog quiet;
  TempDir tmp;
  std::shared_ptr<routing::Router> router = std::make_shared<routing::Router>(sampleConfig());
  std::unique_ptr<Journal> journal;

  Fixture() { open(); }

  fs::path dir() const { return tmp.path() / "journal"; }

  void open(std::uint64_t segment_bytes = 64ull << 20, std::size_t cache_bytes = 64u << 20) {
    journal.reset();  // a clean close first, as at hub exit
    Journal::Options opts;
    opts.dir = dir();
    opts.segment_bytes = segment_bytes;
    opts.cache_bytes = cache_bytes;
    journal = std::make_unique<Journal>(opts);
  }

  std::shared_ptr<const routing::Route> routeOf(std::string_view category) const {
    bool is_default = false;
    const routing::Route& r = router->route(category, is_default);
    return std::shared_ptr<const routing::Route>(router, &r);
  }

  static std::string bodyOf(std::string_view id) { return "body of " + std::string(id); }

  std::uint64_t append(std::string_view category) {
    const std::string id = "id-" + std::to_string(journal->lastSeq() + 1);
    const std::string body = bodyOf(id);
    return journal->append(id, routeOf(category), body);
  }

  // Everything next() hands out to `sink` now, by seq; checks each entry's id and body.
  Seqs drain(routing::ChannelId sink) {
    Seqs out;
    while (const Entry* e = journal->next(sink)) {
      out.push_back(e->seq);
      CHECK(e->id == "id-" + std::to_string(e->seq));
      CHECK(e->body == bodyOf(e->id));
      CHECK((e->route->channel_mask & routing::channelBit(sink)) != 0);
      if (out.size() > 100'000) break;  // a broken cursor must not hang the test
    }
    return out;
  }

  std::size_t segmentFiles() const {
    std::size_t n = 0;
    for (const auto& f : fs::directory_iterator(dir())) {
      if (f.path().extension() == ".log") ++n;
    }
    return n;
  }
};

Seqs range(std::uint64_t from, std::uint64_t to) {
  Seqs out;
  for (auto s = from; s <= to; ++s)
    out.push_back(s);
  return out;
}

}  // namespace

TEST_CASE_METHOD(Fixture, "an empty journal", "[journal]") {
  CHECK(journal->lastSeq() == 0);
  CHECK(journal->next(Sink::local) == nullptr);
  for (routing::ChannelId s :
       {Sink::local, Sink::printer, Sink::desksend, Sink::ns_send, Sink::ds_send}) {
    CHECK(journal->backlog(s) == 0);
    CHECK(journal->acked(s) == 0);
    CHECK(journal->inFlight(s) == 0);
  }
  CHECK(journal->recovery().entries == 0);
  CHECK(journal->recovery().pending == 0);
  CHECK(journal->segments() == 1);
  CHECK(segmentFiles() == 1);
}

TEST_CASE_METHOD(Fixture, "append assigns sequence numbers from 1", "[journal]") {
  CHECK(append("LOCAL") == 1);
  CHECK(append("PRINT") == 2);
  CHECK(append("BOTH") == 3);
  CHECK(journal->lastSeq() == 3);

  const Entry* e = journal->next(Sink::local);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 1);
  CHECK(e->id == "id-1");
  CHECK(e->body == "body of id-1");
  CHECK(e->route->recipients == std::vector<std::string>{"operator"});
}

TEST_CASE_METHOD(Fixture, "next hands each sink only the entries routed to it, once", "[journal]") {
  append("LOCAL");    // 1
  append("PRINT");    // 2
  append("BOTH");     // 3
  append("PRINT");    // 4
  append("ALL");      // 5
  append("UNKNOWN");  // 6: default -> operator
  append("NOWHERE");  // 7: nobody
  CHECK(drain(Sink::local) == Seqs{1, 3, 5, 6});
  CHECK(drain(Sink::printer) == Seqs{2, 3, 4, 5});
  CHECK(drain(Sink::desksend) == Seqs{5});
  CHECK(drain(Sink::ns_send).empty());
  CHECK(drain(Sink::local).empty());  // already handed out

  CHECK(journal->backlog(Sink::local) == 4);
  CHECK(journal->backlog(Sink::printer) == 4);
  CHECK(journal->backlog(Sink::desksend) == 1);
  CHECK(journal->backlog(Sink::ns_send) == 0);
  CHECK(journal->inFlight(Sink::local) == 4);

  // Entries appended later are handed out after the earlier ones.
  append("LOCAL");  // 8
  CHECK(drain(Sink::local) == Seqs{8});
}

TEST_CASE_METHOD(Fixture, "ack is cumulative per sink", "[journal]") {
  append("LOCAL");  // 1
  append("PRINT");  // 2
  append("BOTH");   // 3
  append("LOCAL");  // 4
  append("BOTH");   // 5
  REQUIRE(drain(Sink::local) == Seqs{1, 3, 4, 5});
  REQUIRE(drain(Sink::printer) == Seqs{2, 3, 5});

  journal->ack(Sink::local, 3);  // covers 1 and 3 (2 is not local's)
  CHECK(journal->acked(Sink::local) == 3);
  CHECK(journal->backlog(Sink::local) == 2);
  CHECK(journal->inFlight(Sink::local) == 2);
  // The printer's view is untouched.
  CHECK(journal->acked(Sink::printer) == 0);
  CHECK(journal->backlog(Sink::printer) == 3);

  SECTION("an older or repeated ack changes nothing") {
    journal->ack(Sink::local, 1);
    CHECK(journal->acked(Sink::local) == 3);
    CHECK(journal->backlog(Sink::local) == 2);
    journal->ack(Sink::local, 3);
    CHECK(journal->acked(Sink::local) == 3);
    CHECK(journal->backlog(Sink::local) == 2);
  }
  SECTION("a later ack covers everything up to it") {
    journal->ack(Sink::local, 5);
    CHECK(journal->acked(Sink::local) == 5);
    CHECK(journal->backlog(Sink::local) == 0);
    CHECK(journal->inFlight(Sink::local) == 0);
  }
  SECTION("an ack for a seq not routed to the sink still covers the ones before") {
    journal->ack(Sink::printer, 4);  // 4 is local-only
    CHECK(journal->acked(Sink::printer) == 4);
    CHECK(journal->backlog(Sink::printer) == 1);
  }
  SECTION("rewind hands out again exactly what is not acknowledged") {
    journal->rewind(Sink::local);
    CHECK(journal->inFlight(Sink::local) == 0);
    CHECK(drain(Sink::local) == Seqs{4, 5});
    CHECK(journal->backlog(Sink::local) == 2);
  }
}

TEST_CASE_METHOD(Fixture, "an ack never covers entries not yet handed out", "[journal]") {
  // A confused output acking far ahead must not make the journal skip reports appended
  // later, nor ones it has not received.
  append("LOCAL");  // 1
  append("LOCAL");  // 2
  REQUIRE(journal->next(Sink::local) != nullptr);
  journal->ack(Sink::local, 100);
  CHECK(journal->acked(Sink::local) == 1);
  CHECK(journal->backlog(Sink::local) == 1);
  append("LOCAL");  // 3
  CHECK(drain(Sink::local) == Seqs{2, 3});
  journal->ack(Sink::local, 3);
  CHECK(journal->acked(Sink::local) == 3);
  CHECK(journal->backlog(Sink::local) == 0);
}

TEST_CASE_METHOD(Fixture, "unread takes back the last entry handed out", "[journal]") {
  append("LOCAL");  // 1
  append("PRINT");  // 2
  append("LOCAL");  // 3
  REQUIRE(drain(Sink::local) == Seqs{1, 3});
  journal->unread(Sink::local);
  CHECK(journal->inFlight(Sink::local) == 1);
  CHECK(drain(Sink::local) == Seqs{3});
  journal->unread(Sink::local);
  journal->unread(Sink::local);
  CHECK(journal->inFlight(Sink::local) == 0);
  CHECK(drain(Sink::local) == Seqs{1, 3});
}

TEST_CASE_METHOD(Fixture, "flush makes appended entries durable", "[journal]") {
  append("LOCAL");
  append("BOTH");
  const Position written = journal->flush();
  journal->syncNow();
  CHECK(journal->durable() >= written);
  CHECK(written > Position{});
}

TEST_CASE_METHOD(Fixture, "a segment is freed only when every sink acked it", "[journal]") {
  open(/*segment_bytes=*/512);
  for (int k = 0; k < 60; ++k)
    append(k % 2 ? "BOTH" : "LOCAL");  // odd seqs LOCAL, even seqs BOTH
  journal->flush();
  const std::size_t full = journal->segments();
  REQUIRE(full >= 5);
  CHECK(segmentFiles() == full);
  REQUIRE(drain(Sink::local) == range(1, 60));
  REQUIRE(drain(Sink::printer).size() == 30);

  // Local acknowledging everything frees nothing: every segment holds printer entries.
  journal->ack(Sink::local, 60);
  CHECK(journal->backlog(Sink::local) == 0);
  CHECK(journal->segments() == full);
  CHECK(segmentFiles() == full);

  // The printer acknowledging half frees the older segments only.
  journal->ack(Sink::printer, 30);
  const std::size_t half = journal->segments();
  CHECK(half < full);
  CHECK(half > 1);
  CHECK(segmentFiles() == half);

  // Everything acknowledged: only the segment being written remains.
  journal->ack(Sink::printer, 60);
  CHECK(journal->segments() == 1);
  CHECK(segmentFiles() == 1);
  CHECK(journal->backlog(Sink::printer) == 0);

  // Sequence numbers go on.
  CHECK(append("LOCAL") == 61);
  CHECK(drain(Sink::local) == Seqs{61});
}

TEST_CASE_METHOD(Fixture, "a sink that never acknowledges keeps every segment", "[journal]") {
  open(/*segment_bytes=*/512);
  for (int k = 0; k < 40; ++k)
    append("ALL");  // local, printer and desksend
  const std::size_t full = journal->segments();
  REQUIRE(full >= 3);
  REQUIRE(drain(Sink::local).size() == 40);
  REQUIRE(drain(Sink::printer).size() == 40);
  journal->ack(Sink::local, 40);
  journal->ack(Sink::printer, 40);
  CHECK(journal->segments() == full);  // desksend still owes all of them
  CHECK(journal->backlog(Sink::desksend) == 40);
  REQUIRE(drain(Sink::desksend).size() == 40);
  journal->ack(Sink::desksend, 40);
  CHECK(journal->segments() == 1);
}

TEST_CASE_METHOD(Fixture, "a sink that fell behind reads its entries back from disk", "[journal]") {
  open(/*segment_bytes=*/1024, /*cache_bytes=*/0);  // nothing stays cached once written
  for (int k = 0; k < 40; ++k)
    append(k % 3 == 0 ? "PRINT" : "LOCAL");
  journal->flush();
  CHECK(journal->cachedEntries() == 0);
  REQUIRE(journal->segments() > 1);
  Seqs local, printer;
  for (std::uint64_t s = 1; s <= 40; ++s)
    ((s - 1) % 3 == 0 ? printer : local).push_back(s);
  CHECK(drain(Sink::local) == local);  // entry contents checked in drain()
  CHECK(drain(Sink::printer) == printer);
  const Entry* e = nullptr;
  journal->rewind(Sink::local);
  e = journal->next(Sink::local);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 2);
  // Routes read back from disk keep their targets.
  CHECK(e->route->sinks.at(0).targets.at(0).recipient == "operator");
}

// The disk path reads ahead in large blocks: what it buffered must never hide records
// written after the block was read, in the same segment or the next.
TEST_CASE_METHOD(Fixture, "a sink reading from disk while more is written gets every entry",
                 "[journal]") {
  open(/*segment_bytes=*/4096, /*cache_bytes=*/0);
  Seqs got;
  for (int round = 0; round < 400; ++round) {
    for (int k = 0; k < 5; ++k)
      append("LOCAL");
    journal->flush();
    // Takes fewer than were written, so the reader stays behind the writer.
    for (int k = 0; k < 4; ++k) {
      const Entry* e = journal->next(Sink::local);
      if (!e) break;
      CHECK(e->body == bodyOf(e->id));
      got.push_back(e->seq);
    }
    journal->ack(Sink::local, got.empty() ? 0 : got.back());
  }
  const Seqs rest = drain(Sink::local);
  got.insert(got.end(), rest.begin(), rest.end());
  CHECK(got == range(1, 2000));
  CHECK(journal->segments() > 1);
}

// A journal written by the first format: entry records with an 8-bit channel mask and
// routes of [sink, targets] (one channel per sink), no channel names, no checkpoint.
TEST_CASE_METHOD(Fixture, "an entry in the journal's first format is read and delivered",
                 "[journal]") {
  journal.reset();
  fs::remove_all(dir());
  fs::create_directories(dir());
  auto le = [](std::string& s, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      s.push_back(static_cast<char>(v >> (8 * i)));
  };
  msgpack::sbuffer route;
  msgpack::packer<msgpack::sbuffer> pk(route);
  pk.pack_array(1);
  pk.pack_array(2);          // [sink, targets]
  pk.pack(std::uint8_t{0});  // local
  pk.pack_array(1);
  pk.pack_array(2);
  pk.pack(std::string("operator"));
  pk.pack(std::vector<std::string>{"console"});
  const std::string id = "id-1", body = bodyOf(id);
  std::string payload;
  le(payload, 1, 8);     // seq
  payload.push_back(1);  // mask: channel 0
  le(payload, id.size(), 2);
  payload += id;
  le(payload, route.size(), 4);
  payload.append(route.data(), route.size());
  const char type = 1;  // entry, first format
  std::string record;
  le(record, payload.size() + body.size(), 4);
  le(record, crc32c(0, std::string(1, type) + payload + body), 4);
  record += type;
  record += payload + body;
  std::ofstream(dir() / "0000000000000001.log", std::ios::binary) << record;

  open();
  CHECK(journal->recovery().entries == 1);
  const Entry* e = journal->next(Sink::local);
  REQUIRE(e);
  CHECK(e->seq == 1);
  CHECK(e->id == id);
  CHECK(e->body == body);
  REQUIRE(e->route->sinks.size() == 1);
  CHECK(e->route->sinks[0].channel == Sink::local);
  REQUIRE(e->route->sinks[0].targets.size() == 1);
  CHECK(e->route->sinks[0].targets[0].recipient == "operator");
  CHECK(e->route->sinks[0].targets[0].params == std::vector<std::string>{"console"});
  CHECK(journal->next(Sink::local) == nullptr);
}

namespace {

void putLe(std::string& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    s.push_back(static_cast<char>(v >> (8 * i)));
}

// A whole record: length, CRC, type, payload.
std::string recordOf(char type, const std::string& payload) {
  std::string record;
  putLe(record, payload.size(), 4);
  putLe(record, crc32c(0, std::string(1, type) + payload), 4);
  record += type;
  return record + payload;
}

std::string localRoute() {
  msgpack::sbuffer route;
  msgpack::packer<msgpack::sbuffer> pk(route);
  pk.pack_array(1);
  pk.pack_array(3);          // [sink, channel, targets]
  pk.pack(std::uint8_t{0});  // local
  pk.pack(std::uint8_t{Sink::local});
  pk.pack_array(1);
  pk.pack_array(2);
  pk.pack(std::string("operator"));
  pk.pack(std::vector<std::string>{});
  return std::string(route.data(), route.size());
}

}  // namespace

// Hubs before routes were numbered per segment wrote type 4: the route and the id in each
// entry. Their journals are read after an upgrade.
TEST_CASE_METHOD(Fixture, "an entry of the second format is read and delivered", "[journal]") {
  journal.reset();
  fs::remove_all(dir());
  fs::create_directories(dir());
  const std::string id = "id-1", route = localRoute();
  std::string payload;
  putLe(payload, 1, 8);  // seq
  putLe(payload, routing::channelBit(Sink::local), 8);
  putLe(payload, id.size(), 2);
  payload += id;
  putLe(payload, route.size(), 4);
  payload += route + bodyOf(id);
  std::ofstream(dir() / "0000000000000001.log", std::ios::binary) << recordOf(4, payload);

  open();
  CHECK(journal->recovery().entries == 1);
  CHECK(drain(Sink::local) == Seqs{1});
}

// Each entry names its route by a number its segment defines; the id is where the body
// holds it. Written as much: a second entry of the same route costs its head and body.
TEST_CASE_METHOD(Fixture, "an entry holds its body, a route number and where the id is",
                 "[journal]") {
  append("LOCAL");
  journal->flush();
  const auto one = fs::file_size(dir() / "0000000000000001.log");
  append("LOCAL");  // body "body of id-2": the id at offset 8
  journal->flush();
  const std::size_t record_head = 9, entry_head = 8 + 8 + 4 + 2 + 2;
  CHECK(fs::file_size(dir() / "0000000000000001.log") - one ==
        record_head + entry_head + bodyOf("id-2").size());
  // A body without the id (not an encoded report): the id is written inline.
  const auto two = fs::file_size(dir() / "0000000000000001.log");
  journal->append("id-3", routeOf("LOCAL"), "no id here");
  journal->flush();
  CHECK(fs::file_size(dir() / "0000000000000001.log") - two ==
        record_head + entry_head + 4 + std::string("no id here").size());
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const Entry* e = journal->next(Sink::local);
    REQUIRE(e);
    CHECK(e->seq == seq);
    CHECK(e->id == "id-" + std::to_string(seq));
    CHECK(e->body == (seq < 3 ? bodyOf(e->id) : "no id here"));
  }
}

TEST_CASE_METHOD(Fixture, "routes and ids read back from disk, in every segment after a reopen",
                 "[journal]") {
  // Small segments: routes are written again in each, and recovery reads each on its own.
  open(/*segment_bytes=*/4096, /*cache_bytes=*/0);
  for (int k = 0; k < 600; ++k)
    append(k % 3 == 0 ? "BOTH" : "LOCAL");
  journal->flush();
  REQUIRE(segmentFiles() > 5);
  CHECK(drain(Sink::local) == range(1, 600));  // from disk: the cache holds nothing
  journal->ack(Sink::local, 100);              // drops no segment: printer still waits for them
  open(/*segment_bytes=*/4096, /*cache_bytes=*/0);
  CHECK(drain(Sink::local) == range(101, 600));
  Seqs printed;
  for (std::uint64_t s = 1; s <= 600; s += 3)
    printed.push_back(s);
  CHECK(drain(Sink::printer) == printed);
}

// An entry naming a route its segment never defined is damage: recovery stops there.
TEST_CASE_METHOD(Fixture, "an entry with an undefined route number ends the readable segment",
                 "[journal]") {
  journal.reset();
  fs::remove_all(dir());
  fs::create_directories(dir());
  auto entry = [](std::uint64_t seq, std::uint32_t route) {
    std::string payload;
    putLe(payload, seq, 8);
    putLe(payload, routing::channelBit(Sink::local), 8);
    putLe(payload, route, 4);
    putLe(payload, 4, 2);  // id length
    putLe(payload, 8, 2);  // id offset in the body
    return recordOf(8, payload + "body of id-" + std::to_string(seq));
  };
  std::string route = localRoute(), define;
  putLe(define, 0, 4);
  const std::string good = recordOf(7, define + route) + entry(1, 0);
  std::ofstream(dir() / "0000000000000001.log", std::ios::binary) << good + entry(2, 1);

  open();
  CHECK(journal->recovery().entries == 1);
  CHECK(journal->recovery().torn_bytes == entry(2, 1).size());
  CHECK(drain(Sink::local) == Seqs{1});
}

// The cache keeps ids and bodies in 1 MiB blocks that are recycled as entries leave it: an
// entry still cached must never see its block reused under it.
TEST_CASE_METHOD(Fixture, "entries served from the cache stay whole while its blocks recycle",
                 "[journal]") {
  open(/*segment_bytes=*/64ull << 20, /*cache_bytes=*/3u << 20);
  auto bodyFor = [](std::uint64_t seq) {
    // 500 to 1,500 bytes, so that entries straddle every block boundary differently.
    return std::string(500 + seq * 7919 % 1000, static_cast<char>('a' + seq % 26)) +
           std::to_string(seq);
  };
  constexpr std::uint64_t kEntries = 30'000;  // about 30 MB through a 3 MiB cache
  // Every 500 entries the reader goes over the last 3,300 again (the cache holds about
  // 3,000): from disk just before the cache's front, then every cached entry to the back.
  for (std::uint64_t seq = 1; seq <= kEntries; ++seq) {
    journal->append("id-" + std::to_string(seq), routeOf("LOCAL"), bodyFor(seq));
    if (seq % 100 == 0) {
      journal->flush();  // the cache lets go of what is over its size
      CHECK(journal->cachedEntries() < 5000);
    }
    if (seq % 500 != 0) continue;
    const std::uint64_t from = seq > 3300 ? seq - 3300 : 0;
    journal->ack(Sink::local, from);
    journal->rewind(Sink::local);
    for (std::uint64_t want = from + 1; want <= seq; ++want) {
      const Entry* e = journal->next(Sink::local);
      REQUIRE(e);
      REQUIRE(e->seq == want);
      REQUIRE(e->body == bodyFor(e->seq));
    }
  }
}

// Several read-ahead blocks (1 MiB each) in one segment, so that block ends fall inside
// records and between a record's header and its payload.
TEST_CASE_METHOD(Fixture, "a sink reads back a segment larger than the read-ahead", "[journal]") {
  open(/*segment_bytes=*/64ull << 20, /*cache_bytes=*/0);
  constexpr std::uint64_t kEntries = 80'000;
  for (std::uint64_t k = 0; k < kEntries; ++k)
    append("LOCAL");
  journal->flush();
  REQUIRE(fs::file_size(dir() / "0000000000000001.log") > 3u << 20);
  CHECK(drain(Sink::local) == range(1, kEntries));
}

TEST_CASE_METHOD(Fixture, "a reopened journal gives back what was not acknowledged", "[journal]") {
  append("LOCAL");  // 1
  append("BOTH");   // 2
  append("ALL");    // 3
  append("PRINT");  // 4
  REQUIRE(drain(Sink::local) == Seqs{1, 2, 3});
  REQUIRE(drain(Sink::printer) == Seqs{2, 3, 4});
  journal->ack(Sink::local, 2);
  journal->ack(Sink::printer, 4);
  open();  // closes cleanly, then recovers

  CHECK(journal->recovery().entries == 4);
  CHECK(journal->recovery().pending == 1);  // only 3: local and desksend owe it
  CHECK(journal->recovery().torn_bytes == 0);
  CHECK(journal->lastSeq() == 4);
  CHECK(journal->acked(Sink::local) == 2);
  CHECK(journal->acked(Sink::printer) == 4);
  CHECK(journal->backlog(Sink::local) == 1);
  CHECK(journal->backlog(Sink::printer) == 0);
  CHECK(journal->backlog(Sink::desksend) == 1);

  const Entry* e = journal->next(Sink::desksend);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 3);
  CHECK(e->id == "id-3");
  CHECK(e->body == "body of id-3");
  CHECK(e->route->sinks.size() == 3);
  CHECK(e->route->sinks.at(2).targets == std::vector<wire::Target>{{"ops", {"alice", "bob"}}});
  CHECK(drain(Sink::local) == Seqs{3});
  CHECK(drain(Sink::printer).empty());

  // New entries continue the sequence, and reach the sinks after the recovered ones.
  CHECK(append("BOTH") == 5);
  CHECK(drain(Sink::local) == Seqs{5});
  CHECK(drain(Sink::printer) == Seqs{5});
}

// Journal::append promises an entry "readable by outputs at once", also after a reopen for a
// sink whose acknowledged cursor is behind lastSeq() (the last entries were not routed to
// it): it must read new entries from the cache without waiting for a flush.
TEST_CASE_METHOD(Fixture, "a sink with nothing pending after reopening gets new entries",
                 "[journal]") {
  append("LOCAL");  // 1
  append("PRINT");  // 2
  REQUIRE(drain(Sink::local) == Seqs{1});
  journal->ack(Sink::local, 1);
  open();
  // Local's cursor is at 1, the journal at 2. A new entry reaches it, flushed or not.
  CHECK(append("LOCAL") == 3);
  CHECK(drain(Sink::local) == Seqs{3});
  CHECK(drain(Sink::printer) == Seqs{2});
}

TEST_CASE_METHOD(Fixture, "discardPending drops what the previous run left", "[journal]") {
  append("LOCAL");
  append("BOTH");
  open();
  REQUIRE(journal->recovery().pending == 2);
  CHECK(journal->discardPending() == 2);
  CHECK(journal->backlog(Sink::local) == 0);
  CHECK(journal->backlog(Sink::printer) == 0);
  CHECK(journal->next(Sink::local) == nullptr);
  CHECK(append("LOCAL") == 3);
  CHECK(drain(Sink::local) == Seqs{3});
  // And it stays discarded across another restart.
  open();
  CHECK(journal->recovery().pending == 1);
  CHECK(drain(Sink::local) == Seqs{3});
}

TEST_CASE_METHOD(Fixture, "a torn tail is truncated and the entries before it kept", "[journal]") {
  append("LOCAL");
  append("LOCAL");
  journal.reset();
  // A record header promising more bytes than the file holds, as a crash mid-write leaves.
  fs::path segment;
  for (const auto& f : fs::directory_iterator(dir()))
    segment = f.path();
  const auto size = fs::file_size(segment);
  {
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    out.write("\x40\x00\x00\x00\x00\x00\x00\x00\x01partial", 16);
  }
  open();
  CHECK(journal->recovery().torn_bytes == 16);
  CHECK(journal->recovery().entries == 2);
  CHECK(fs::file_size(segment) == size);
  CHECK(drain(Sink::local) == Seqs{1, 2});
  CHECK(append("LOCAL") == 3);
}

TEST_CASE_METHOD(Fixture, "a damaged record ends what recovery trusts", "[journal]") {
  append("LOCAL");  // 1
  const Position after_first = journal->flush();
  append("LOCAL");  // 2
  append("LOCAL");  // 3
  journal.reset();
  fs::path segment;
  for (const auto& f : fs::directory_iterator(dir()))
    segment = f.path();
  {
    // Flip one byte inside record 2 (past its 9-byte header): its checksum no longer holds.
    std::fstream io(segment, std::ios::binary | std::ios::in | std::ios::out);
    char c = 0;
    io.seekg(static_cast<std::streamoff>(after_first.offset + 12));
    io.get(c);
    io.seekp(static_cast<std::streamoff>(after_first.offset + 12));
    io.put(static_cast<char>(c ^ 0x5a));
  }
  open();
  CHECK(journal->recovery().entries == 1);
  CHECK(journal->recovery().torn_bytes > 0);
  CHECK(journal->lastSeq() == 1);
  CHECK(drain(Sink::local) == Seqs{1});
}

TEST_CASE("entries keep their routing table alive", "[journal]") {
  QuietLog quiet;
  TempDir tmp;
  Journal::Options opts;
  opts.dir = tmp.path() / "journal";
  Journal journal(opts);
  std::weak_ptr<routing::Router> weak;
  {
    auto router = std::make_shared<routing::Router>(sampleConfig());
    weak = router;
    bool is_default = false;
    const routing::Route& r = router->route("LOCAL", is_default);
    journal.append("a", std::shared_ptr<const routing::Route>(router, &r), "");
  }
  // A reload would have swapped the router by now; the journaled entry still has its own.
  CHECK_FALSE(weak.expired());
  const Entry* e = journal.next(Sink::local);
  REQUIRE(e != nullptr);
  CHECK(e->route->sinks.at(0).targets.at(0).recipient == "operator");
}

namespace {

// A route to one node's channel, as the hub's router builds it.
std::shared_ptr<const routing::Route> nodeRoute(routing::ChannelId c, const std::string& node) {
  auto r = std::make_shared<routing::Route>();
  r->recipients = {node + "-operator"};
  r->sinks = {routing::SinkDelivery{
      routing::Sink::ns_send, c, {wire::Target{node + "-operator", {node, "operator"}}}}};
  r->channel_mask = routing::channelBit(c);
  return r;
}

}  // namespace

TEST_CASE_METHOD(Fixture, "each node's channel is its own outbox, numbered for good", "[journal]") {
  const auto hq = journal->channel("ns_send:hq");
  const auto region = journal->channel("ns_send:region");
  REQUIRE(hq);
  REQUIRE(region);
  CHECK(*hq != *region);
  CHECK(*hq >= routing::kSinkCount);  // the outputs' numbers are never handed to a node
  CHECK(journal->channel("ns_send:hq") == hq);
  CHECK(journal->channelName(*hq) == "ns_send:hq");
  for (int i = 0; i < 3; ++i)
    journal->append("h" + std::to_string(i), nodeRoute(*hq, "hq"), "");
  journal->append("r0", nodeRoute(*region, "region"), "");

  // hq is down: its reports wait without holding up region's.
  const Entry* e = journal->next(*region);
  REQUIRE(e != nullptr);
  CHECK(e->id == "r0");
  journal->ack(*region, e->seq);
  CHECK(journal->backlog(*region) == 0);
  CHECK(journal->backlog(*hq) == 3);

  // After a restart the numbers and what waits in each are the same.
  journal->flush();
  open();
  CHECK(journal->channel("ns_send:hq") == hq);
  CHECK(journal->channel("ns_send:region") == region);
  CHECK(journal->backlog(*hq) == 3);
  CHECK(journal->backlog(*region) == 0);
  CHECK(journal->recovery().pending == 3);
  e = journal->next(*hq);
  REQUIRE(e != nullptr);
  CHECK(e->id == "h0");
  CHECK(e->route->sinks.at(0).channel == *hq);
}

TEST_CASE_METHOD(Fixture, "a new channel starts after what is already journaled", "[journal]") {
  append("LOCAL");
  append("LOCAL");
  const auto late = journal->channel("ns_send:late");
  REQUIRE(late);
  CHECK(journal->next(*late) == nullptr);
  CHECK(journal->backlog(*late) == 0);
  journal->append("x", nodeRoute(*late, "late"), "");
  const Entry* e = journal->next(*late);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 3);
}

TEST_CASE_METHOD(Fixture, "channels taken out of the config are forgotten unless reports wait",
                 "[journal]") {
  const auto gone = journal->channel("ns_send:gone");
  const auto busy = journal->channel("ns_send:busy");
  REQUIRE(gone);
  REQUIRE(busy);
  journal->append("g", nodeRoute(*gone, "gone"), "");
  journal->ack(*gone, journal->next(*gone)->seq);
  journal->append("b", nodeRoute(*busy, "busy"), "");
  const auto kept = journal->forgetChannels({"local", "printer", "desksend", "ds_send"});
  CHECK(kept == std::vector<std::string>{"ns_send:busy"});
  CHECK(journal->channelName(*gone).empty());
  CHECK(journal->channelName(*busy) == "ns_send:busy");

  // The freed number goes to the next new channel, which never sees the old entries.
  const auto fresh = journal->channel("ns_send:fresh");
  REQUIRE(fresh);
  CHECK(journal->next(*fresh) == nullptr);
  journal->flush();
  open();
  CHECK(journal->channel("ns_send:fresh") == fresh);
  CHECK(journal->next(*fresh) == nullptr);
  CHECK(journal->backlog(*busy) == 1);
}

TEST_CASE_METHOD(Fixture, "channel names survive segment rotation and old segments' removal",
                 "[journal]") {
  open(4096);
  const auto hq = journal->channel("ns_send:hq");
  REQUIRE(hq);
  const std::string body(600, 'x');
  for (int i = 0; i < 40; ++i) {
    journal->append("h" + std::to_string(i), nodeRoute(*hq, "hq"), body);
    journal->flush();
  }
  // Everything but the last two acknowledged: the first segments go away with their records.
  Seqs seen;
  while (const Entry* e = journal->next(*hq))
    seen.push_back(e->seq);
  REQUIRE(seen.size() == 40);
  journal->ack(*hq, 38);
  journal->flush();
  CHECK(segmentFiles() < 5);
  open(4096);
  CHECK(journal->channel("ns_send:hq") == hq);
  CHECK(journal->backlog(*hq) == 2);
  const Entry* e = journal->next(*hq);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 39);
}

namespace {

// Entries of one size (ids of fixed width), so that a segment written over a reused file
// lays its records exactly where the file's earlier ones were.
struct Recycling : Fixture {
  std::uint64_t add() {
    char id[16];
    std::snprintf(id, sizeof id, "id-%06llu",
                  static_cast<unsigned long long>(journal->lastSeq() + 1));
    return journal->append(id, routeOf("LOCAL"), std::string("body of ") + id);
  }
  // Appends until the journal has `n` segments.
  void fillTo(std::size_t n) {
    while (journal->segments() < n)
      add();
  }
  void deliverAll() {
    while (journal->next(Sink::local)) {
    }
    journal->ack(Sink::local, journal->lastSeq());
    journal->flush();
  }
  fs::path spare() const { return dir() / "spare.segment"; }
  std::vector<fs::path> segmentPaths() const {
    std::vector<fs::path> out;
    for (const auto& f : fs::directory_iterator(dir())) {
      if (f.path().extension() == ".log") out.push_back(f.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static ino_t inode(const fs::path& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
  }
  // The journal directory as a crash would leave it now (the page cache survives a crash
  // of the hub): a copy, opened by a second journal.
  std::unique_ptr<Journal> crashCopy(const fs::path& to, std::uint64_t segment_bytes) {
    journal->flush();
    fs::copy(dir(), to, fs::copy_options::recursive);
    Journal::Options opts;
    opts.dir = to;
    opts.segment_bytes = segment_bytes;
    return std::make_unique<Journal>(opts);
  }
};

}  // namespace

TEST_CASE_METHOD(Recycling, "a finished segment is written over by the next one, never read back",
                 "[journal]") {
  open(/*segment_bytes=*/1024);
  fillTo(4);
  deliverAll();
  // The oldest finished segment is kept as the spare file; the others are deleted.
  REQUIRE(journal->segments() == 1);
  CHECK(segmentFiles() == 1);
  REQUIRE(fs::exists(spare()));
  const ino_t spare_inode = inode(spare());
  const std::uint64_t delivered = journal->lastSeq();

  // The next segment is the spare file renamed, written from its start.
  fillTo(2);
  CHECK_FALSE(fs::exists(spare()));
  REQUIRE(segmentPaths().size() == 2);
  CHECK(inode(segmentPaths().back()) == spare_inode);
  add();
  const std::uint64_t last = add();
  Seqs waiting = range(delivered + 1, last);

  // After a crash the file still holds the older segment's records behind the new ones,
  // each exactly where a record of this segment could start. None of them is taken.
  const auto crashed = crashCopy(tmp.path() / "crashed", 1024);
  CHECK(crashed->recovery().torn_bytes > 0);
  CHECK(crashed->lastSeq() == last);
  CHECK(crashed->recovery().pending == waiting.size());
  Seqs got;
  while (const Entry* e = crashed->next(Sink::local))
    got.push_back(e->seq);
  CHECK(got == waiting);

  // A clean close cuts the file after its records: the next start finds no tail, and the
  // same entries as the crashed copy.
  const std::uint64_t entries = crashed->recovery().entries;
  open(1024);
  CHECK(journal->recovery().torn_bytes == 0);
  CHECK(journal->recovery().entries == entries);
  got.clear();
  while (const Entry* e = journal->next(Sink::local))
    got.push_back(e->seq);
  CHECK(got == waiting);
}

TEST_CASE_METHOD(Recycling, "a reused file is cut after its records before the next segment",
                 "[journal]") {
  // Large segments first, so that the spare is longer than a segment written over it later.
  open(/*segment_bytes=*/8192);
  fillTo(3);
  deliverAll();
  REQUIRE(fs::exists(spare()));
  const auto spare_size = fs::file_size(spare());
  open(/*segment_bytes=*/1024);
  fillTo(3);  // the active one, the reused one, and a new one after it
  const auto paths = segmentPaths();
  REQUIRE(paths.size() == 3);
  CHECK(fs::file_size(paths[1]) < spare_size / 2);
  // Nothing in a segment before the last is taken for damage after a crash.
  const auto crashed = crashCopy(tmp.path() / "crashed", 1024);
  CHECK(crashed->recovery().torn_bytes == 0);
  CHECK(crashed->lastSeq() == journal->lastSeq());
}

TEST_CASE_METHOD(Recycling, "a reused file that got no record of its own holds nothing",
                 "[journal]") {
  open(/*segment_bytes=*/1024);
  fillTo(4);
  deliverAll();
  const std::uint64_t last = journal->lastSeq();
  journal.reset();
  // A crash between renaming the spare and writing the new segment's first record: the
  // file under the next number still starts with the older segment's records.
  const auto paths = segmentPaths();
  REQUIRE(paths.size() == 1);
  const fs::path next = dir() / "0000000000000005.log";
  REQUIRE(paths[0].filename() == "0000000000000004.log");
  fs::rename(spare(), next);
  const auto stale = fs::file_size(next);
  open(1024);
  CHECK(journal->recovery().torn_bytes == stale);
  CHECK(journal->lastSeq() == last);
  CHECK(journal->backlog(Sink::local) == 0);
  // The journal writes on in that segment, from its start, and reads it back.
  const std::uint64_t seq = add();
  open(1024);
  CHECK(journal->recovery().torn_bytes == 0);
  const Entry* e = journal->next(Sink::local);
  REQUIRE(e);
  CHECK(e->seq == seq);
  CHECK(journal->next(Sink::local) == nullptr);
}

TEST_CASE_METHOD(Fixture, "synced records leave the page cache, the page being filled stays",
                 "[journal]") {
  const std::string body(1000, 'x');
  for (int i = 0; i < 1500; ++i)
    journal->append("id-" + std::to_string(i), routeOf("LOCAL"), body);
  const Position end = journal->flush();
  journal->syncNow();
  const fs::path segment = dir() / "0000000000000001.log";
  REQUIRE(fs::file_size(segment) == end.offset);
  struct statfs fsinfo {};
  REQUIRE(statfs(segment.c_str(), &fsinfo) == 0);
  if (fsinfo.f_type == TMPFS_MAGIC) {
    WARN("the test directory is on tmpfs, where the page cache is the file: nothing to drop");
    return;
  }

  // Which pages of the file are in the page cache (mapping the file does not load them).
  const int fd = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  void* map = mmap(nullptr, end.offset, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t pages = (end.offset + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  REQUIRE(mincore(map, end.offset, resident.data()) == 0);
  munmap(map, end.offset);
  std::size_t cached = 0;
  for (std::size_t i = 0; i + 1 < pages; ++i)
    cached += resident[i] & 1;
  CHECK(cached == 0);
  CHECK((resident.back() & 1) == 1);
  // And the entries are all there to read back.
  open();
  CHECK(journal->recovery().pending == 1500);
}
