// The hub's durable store of accepted reports and their per-output delivery state
// (DESIGN §3 "No loss"). Reports are appended to checksummed segment files and made durable
// by a sync thread (group commit: one fdatasync covers every append written before it), so
// the event loop never waits on the disk. Each channel (an output, or the link to one node)
// has a cursor: a report leaves the journal when every channel it is routed to has
// acknowledged it. Recent entries are also
// kept in a bounded memory cache; an output that falls behind reads from disk, so a stopped
// output makes reports wait on disk, not in RAM.
#pragma once

#include "common/ring.h"
#include "routing/router.h"

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace reporthub::hub {

// Where a record sits: segment number and byte offset. Ordered as the journal is written.
struct Position {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  auto operator<=>(const Position&) const = default;
};

// An entry as next() hands it out. `id` and `body` point into the journal's memory: valid
// until the journal is next appended to or flushed.
struct Entry {
  std::uint64_t seq = 0;
  std::string_view id;
  std::string_view body;                        // the encoded report, never decoded here
  std::shared_ptr<const routing::Route> route;  // the routing decision it was accepted with
  Position at;                                  // its record
  Position end;                                 // just after its record
  std::size_t bytes = 0;                        // its size on disk
};

class Journal {
 public:
  struct Options {
    std::filesystem::path dir;
    std::uint64_t segment_bytes = 64ull << 20;
    std::size_t cache_bytes = 64u << 20;  // recent entries kept in memory
    bool sync = true;                     // false: written counts as durable (no fdatasync)
  };

  // What start-up found in the journal of the previous run.
  struct Recovery {
    std::uint64_t entries = 0;     // entry records read
    std::uint64_t pending = 0;     // reports not yet acknowledged by every output
    std::uint64_t torn_bytes = 0;  // bytes of an incomplete or corrupt tail, truncated
    std::uint64_t segments = 0;
  };

  // Opens (creating) the journal directory and recovers its state. Throws
  // std::system_error on I/O failure.
  explicit Journal(Options opts);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const Recovery& recovery() const { return recovery_; }

  // Appends a report; it is readable by outputs at once and durable after a later sync.
  // Returns its sequence number.
  std::uint64_t append(std::string_view id, std::shared_ptr<const routing::Route> route,
                       std::string_view body);

  // Writes buffered records to the file and asks the sync thread to make them durable.
  // Returns the position that will be durable once durable() reaches it. A failing write
  // keeps the rest buffered for the next call and sets error().
  Position flush();
  // Everything before this position is on disk (fdatasync returned).
  Position durable() const;
  // A descriptor that becomes readable when durable() advances; read it to reset.
  int syncFd() const { return sync_event_fd_; }
  void clearSyncEvent();
  // Waits until everything flushed so far is durable, or syncing has failed (shutdown).
  void syncNow();
  // The current I/O problem, "" when healthy.
  std::string error() const;

  // The number of the channel `name`, numbering it now if it is new (a new channel starts
  // after every entry so far). nullopt if all kMaxChannels numbers are taken.
  std::optional<routing::ChannelId> channel(const std::string& name);
  // Frees the numbers of channels not in `wanted` that have nothing pending (a node taken
  // out of the config). Returns the names of unwanted channels that still have reports.
  std::vector<std::string> forgetChannels(const std::vector<std::string>& wanted);
  const std::string& channelName(routing::ChannelId c) const { return cursors_[c].name; }

  // The next entry for channel `c` after the ones already handed out, or nullptr. The
  // pointer is valid until the next call for the same channel.
  const Entry* next(routing::ChannelId c);
  // `c` has handled every entry routed to it with seq <= upto.
  void ack(routing::ChannelId c, std::uint64_t upto);
  // Hand out again everything `c` has not acknowledged (a retry, or a new connection).
  void rewind(routing::ChannelId c);
  // Takes back the entry last handed out to `c` (it could not be sent).
  void unread(routing::ChannelId c);
  // Drops every pending delivery (startup.pending: discard). Returns how many reports.
  std::uint64_t discardPending();

  std::uint64_t backlog(routing::ChannelId c) const { return cursors_[c].backlog; }
  std::size_t inFlight(routing::ChannelId c) const { return cursors_[c].in_flight.size(); }
  std::uint64_t acked(routing::ChannelId c) const { return cursors_[c].acked; }
  std::uint64_t lastSeq() const { return next_seq_ - 1; }
  std::size_t segments() const { return segments_.size(); }
  std::size_t cachedEntries() const { return cache_.size(); }

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::uint64_t size = 0;
    std::array<std::uint64_t, routing::kMaxChannels> last_for_channel{};  // highest seq each
    std::vector<std::shared_ptr<const routing::Route>> routes;  // its route records, by number
    // Where its records' CRCs start: the CRC of its number when it begins with a segment
    // record, 0 in the formats before (see journal.cpp).
    std::uint32_t salt = 0;
  };
  // A route as the segment being written knows it: its number there, once written.
  struct RouteRef {
    std::shared_ptr<const routing::Route> route;  // keeps the address from being reused
    std::uint64_t segment = 0;                    // 0: not written to the current segment
    std::uint32_t number = 0;
  };
  struct Cursor {
    std::string name;            // "" while the number is free
    std::uint64_t acked = 0;     // every entry with seq <= acked is done
    std::uint64_t read_seq = 0;  // every entry with seq <= read_seq was handed out or skipped
    Position read_pos;           // where the record after read_seq starts on disk
    Ring<std::pair<std::uint64_t, Position>> in_flight;  // handed out, not acked
    std::uint64_t backlog = 0;                           // routed here and not acked
    Entry scratch;             // the last entry read from disk for this channel
    std::string scratch_data;  // its id and body
  };
  // The ids and bodies of the cached entries, back to back in blocks that are never
  // reallocated (views into them stay valid): no allocation per report, and a block is
  // dropped (kept for reuse) once the cache has let go of every entry in it.
  struct CacheBlock {
    std::string data;
    std::uint64_t last_seq = 0;
  };
  static constexpr std::size_t kCacheBlock = 1 << 20;
  // Copies `body` into the cache blocks, and `id` too unless it is body[id_at...]; sets
  // `e.id` and `e.body` to the copies.
  void keep(Entry& e, std::string_view id, std::size_t id_at, std::string_view body);
  void dropCacheFront();

  void recover();
  void openActive(std::uint64_t number, bool fresh);
  void writeRecord(std::uint8_t type, std::string_view payload, std::string_view body = {});
  // Every named channel and its cursor: written first in each new segment.
  void writeCheckpoint();
  void writeChannel(routing::ChannelId c);
  void writeAck(routing::ChannelId c);
  void rotateIfFull();
  // Cuts the active segment's file after its records (see journal.cpp).
  void trimActive();
  void dropFinishedSegments();
  bool readFromDisk(routing::ChannelId c);
  // `n` bytes of segment `seg` at `offset`, through a read-ahead buffer; fewer at its end.
  std::string_view readSpan(const Segment& seg, std::uint64_t offset, std::size_t n);
  bool readFromDiskSafely(routing::ChannelId c);
  void noteError(const std::string& what);
  const Entry* fromCache(routing::ChannelId c);
  std::filesystem::path segmentPath(std::uint64_t number) const;
  // The finished segment kept for the next new segment to be written over.
  std::filesystem::path sparePath() const;
  void syncLoop();
  // The number of `route` in the segment being written, writing its record there first if
  // it has none yet.
  std::uint32_t routeNumber(const std::shared_ptr<const routing::Route>& route);

  Options opts_;
  Recovery recovery_;
  std::deque<Segment> segments_;  // oldest first; back() is the one written
  int fd_ = -1;                   // the active segment
  std::string buffer_;            // records not yet written to fd_
  std::uint64_t next_seq_ = 1;
  std::array<Cursor, routing::kMaxChannels> cursors_;
  Ring<Entry> cache_;  // recent entries, consecutive seqs
  std::deque<CacheBlock> cache_blocks_;
  std::vector<std::string> spare_blocks_;
  std::string payload_;  // of the entry record being appended
  std::unordered_map<const routing::Route*, RouteRef> route_refs_;
  std::size_t cache_size_ = 0;
  Position written_;  // end of what reached the file
  int read_fd_ = -1;  // the segment outputs that fell behind read from
  static constexpr std::size_t kReadAhead = 1 << 20;
  std::string read_buf_;  // read ahead from read_fd_
  std::uint64_t read_buf_segment_ = 0;
  std::uint64_t read_buf_offset_ = 0;
  std::string read_route_bytes_;  // the route last decoded from disk, and its bytes
  std::shared_ptr<const routing::Route> read_route_;
  bool write_failing_ = false;
  std::string error_;
  std::uint64_t read_fd_segment_ = 0;

  // The sync thread and what it shares with the loop.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Position sync_requested_;
  int sync_requested_fd_ = -1;
  Position durable_;
  bool stopping_ = false;
  bool sync_failed_ = false;
  std::string sync_error_;
  int sync_event_fd_ = -1;
  std::thread syncer_;
};

}  // namespace reporthub::hub
