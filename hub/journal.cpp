// The durable journal; see journal.h.
//
// On disk: <dir>/<16-digit segment number>.log, each a sequence of records
//   u32 length | u32 crc32c(segment number + type + payload) | u8 type | payload (length bytes)
// starting with a segment record (its own number), then of these types: an entry (a report, the
// number of its route and the mask of channels it waits in), a route (a routing decision, numbered
// within its segment, written before the first entry that uses it), an ack (one channel's cursor
// moved), a channel (a channel's number and name) and a checkpoint (every channel's cursor). Each
// new segment starts with every channel and a checkpoint, and defines its own routes, so deleting
// old segments never loses a cursor, a name or a route. An entry's id is a span of its body when
// the body holds it (an encoded report does, near its start), not a second copy. Types 1, 3 and 4
// are earlier formats' entries (route and id in every entry) and checkpoint (five fixed outputs),
// still read. Integers are little-endian.
//
// A finished segment is not deleted but kept as the spare file (one at most) that the next
// new segment is renamed from and written over: the file system then reuses its blocks
// instead of allocating new ones. What the file held before stays behind the new records
// until it is overwritten; the segment number in every CRC tells those old records apart:
// CRC-32C is linear, and two numbers that differ below bit 32 (any two a journal reaches)
// change every record's CRC, so an old record never checks out under the new number. A
// segment of the earlier formats has no segment record and no number in its CRCs; it is
// read as it was, and deleted when finished rather than reused.
//
// An append-only log rather than SQLite or LMDB: the journal is written strictly in order
// and read in order, the hot path is one memcpy per report and one fdatasync per batch,
// and recovery is a sequential scan; an embedded database would add a B-tree and its own
// log under the same two operations.
#include "hub/journal.h"

#include "common/crc32c.h"
#include "common/file_io.h"
#include "common/msgpack_util.h"

#include <msgpack.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace reporthub::hub {

namespace {

enum RecordType : std::uint8_t {
  kEntryV1 = 1,
  kAck = 2,
  kCheckpointV1 = 3,
  kEntryV2 = 4,
  kCheckpoint = 5,
  kChannel = 6,
  kRoute = 7,
  kEntry = 8,
  kSegment = 9
};
constexpr std::size_t kEntryHead = 8 + 8 + 4 + 2 + 2;  // seq, mask, route, id length and offset
constexpr std::uint16_t kIdInline = 0xffff;            // the id follows the entry's head
constexpr std::size_t kHeader = 9;                     // length, crc, type
constexpr std::uint32_t kMaxRecord = 1u << 20;         // far above any valid report

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void put32(std::string& s, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  s.append(b, 4);
}
void put16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void put64(std::string& s, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  s.append(b, 8);
}
std::uint16_t get16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) |
                                    static_cast<unsigned char>(p[1]) << 8);
}
std::uint32_t get32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// A record's CRC, continued from its segment's salt.
std::uint32_t crcOf(std::uint32_t salt, std::uint8_t type, std::string_view payload,
                    std::string_view body = {}) {
  const char t = static_cast<char>(type);
  return crc32c(crc32c(crc32c(salt, std::string_view(&t, 1)), payload), body);
}

// The salt of segment `number`: the CRC of its number's 8 bytes.
std::uint32_t saltOf(std::uint64_t number) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(number >> (8 * i));
  return crc32c(0, std::string_view(b, 8));
}

std::string encodeRoute(const routing::Route& r) {
  msgpack::sbuffer buf(64);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(static_cast<std::uint32_t>(r.sinks.size()));
  for (const auto& d : r.sinks) {
    pk.pack_array(3);
    pk.pack(static_cast<std::uint8_t>(d.sink));
    pk.pack(d.channel);
    pk.pack_array(static_cast<std::uint32_t>(d.targets.size()));
    for (const auto& t : d.targets) {
      pk.pack_array(2);
      pk.pack(t.recipient);
      pk.pack(t.params);
    }
  }
  return std::string(buf.data(), buf.size());
}

bool decodeRoute(std::string_view bytes, routing::Route& out) {
  constexpr std::uint32_t kMaxItems = 256;
  mp::Reader in(bytes);
  std::uint32_t sinks = 0;
  if (!in.array(sinks, kMaxItems)) return false;
  out = routing::Route{};
  for (std::uint32_t i = 0; i < sinks; ++i) {
    // [sink, channel, targets]; the first format had [sink, targets], one channel per sink.
    std::uint32_t fields = 0, targets = 0;
    std::uint64_t sink = 0, channel = 0;
    if (!in.array(fields, 3) || fields < 2 || !in.u64(sink) || sink >= routing::kSinkCount) {
      return false;
    }
    const bool v1 = fields == 2;
    if (v1) {
      channel = sink;
    } else if (!in.u64(channel) || channel >= routing::kMaxChannels) {
      return false;
    }
    if (!in.array(targets, kMaxItems)) return false;
    routing::SinkDelivery sd{
        static_cast<routing::Sink>(sink), static_cast<routing::ChannelId>(channel), {}};
    for (std::uint32_t k = 0; k < targets; ++k) {
      wire::Target& target = sd.targets.emplace_back();
      std::uint32_t pair = 0, params = 0;
      std::string_view v;
      if (!in.array(pair, 2) || pair != 2 || !in.str(v, 256)) return false;
      target.recipient.assign(v);
      if (!in.array(params, kMaxItems)) return false;
      for (std::uint32_t j = 0; j < params; ++j) {
        if (!in.str(v, 256)) return false;
        target.params.emplace_back(v);
      }
      out.recipients.push_back(target.recipient);
    }
    out.channel_mask |= routing::channelBit(sd.channel);
    out.sinks.push_back(std::move(sd));
  }
  return in.done();
}

// One entry record's payload, parsed. An entry of the current format names its route by
// number (`route_number`); earlier ones hold the encoded route (`route`).
struct EntryView {
  std::uint64_t seq = 0;
  std::uint64_t mask = 0;
  std::string_view id, route, body;
  std::optional<std::uint32_t> route_number;
};

bool isEntry(std::uint8_t type) {
  return type == kEntry || type == kEntryV2 || type == kEntryV1;
}

bool parseEntry(std::uint8_t type, std::string_view p, EntryView& e) {
  if (type == kEntry) {
    if (p.size() < kEntryHead) return false;
    e.seq = get64(p.data());
    e.mask = get64(p.data() + 8);
    e.route_number = get32(p.data() + 16);
    const std::size_t idlen = get16(p.data() + 20), id_at = get16(p.data() + 22);
    if (id_at == kIdInline) {
      if (p.size() < kEntryHead + idlen) return false;
      e.id = p.substr(kEntryHead, idlen);
      e.body = p.substr(kEntryHead + idlen);
    } else {
      e.body = p.substr(kEntryHead);
      if (e.body.size() < id_at + idlen) return false;
      e.id = e.body.substr(id_at, idlen);
    }
    e.route = {};
    return true;
  }
  e.route_number.reset();
  const std::size_t mask_bytes = type == kEntryV2 ? 8 : 1;
  if (!isEntry(type) || p.size() < 8 + mask_bytes + 2) return false;
  e.seq = get64(p.data());
  e.mask = type == kEntryV2 ? get64(p.data() + 8) : static_cast<unsigned char>(p[8]);
  std::size_t off = 8 + mask_bytes;
  const std::size_t idlen =
      static_cast<unsigned char>(p[off]) | (static_cast<unsigned char>(p[off + 1]) << 8);
  off += 2;
  if (p.size() < off + idlen + 4) return false;
  e.id = p.substr(off, idlen);
  off += idlen;
  const std::uint32_t rlen = get32(p.data() + off);
  off += 4;
  if (p.size() < off + rlen) return false;
  e.route = p.substr(off, rlen);
  e.body = p.substr(off + rlen);
  return true;
}

void fsyncDir(const std::filesystem::path& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open " + dir.string());
  if (fsync(fd) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    fail("fsync " + dir.string());
  }
  close(fd);
}

}  // namespace

Journal::Journal(Options opts) : opts_(std::move(opts)) {
  std::error_code ec;
  std::filesystem::create_directories(opts_.dir, ec);
  if (ec) {
    errno = ec.value();
    fail("mkdir " + opts_.dir.string());
  }
  sync_event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (sync_event_fd_ < 0) fail("eventfd");
  // The first format numbered the five outputs in Sink order and wrote no names.
  for (std::size_t s = 0; s < routing::kSinkCount; ++s) {
    cursors_[s].name = std::string(routing::toString(static_cast<routing::Sink>(s)));
  }
  recover();
  // The sync thread must never take a process-directed signal (the hub reads SIGCHLD and
  // SIGTERM from a signalfd; one landing here would be lost): it starts with all blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  syncer_ = std::thread([this] { syncLoop(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

Journal::~Journal() {
  try {
    flush();
    syncNow();
    if (fd_ >= 0) trimActive();
  } catch (const std::system_error& e) {
    spdlog::error(
        "journal: final sync failed: {}; unsynced reports will be replayed from "
        "their submitters' retries only",
        e.what());
  }
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (fd_ >= 0) close(fd_);
  if (read_fd_ >= 0) close(read_fd_);
  if (sync_event_fd_ >= 0) close(sync_event_fd_);
}

std::filesystem::path Journal::segmentPath(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llu.log", static_cast<unsigned long long>(number));
  return opts_.dir / name;
}

void Journal::recover() {
  std::vector<std::uint64_t> numbers;
  for (const auto& f : std::filesystem::directory_iterator(opts_.dir)) {
    const auto name = f.path().filename().string();
    if (name.size() == 20 && name.ends_with(".log")) {
      numbers.push_back(std::stoull(name.substr(0, 16)));
    }
  }
  std::sort(numbers.begin(), numbers.end());

  // Pass 1: validate records, truncate a torn tail, learn the cursors and the last seq.
  std::array<std::uint64_t, routing::kMaxChannels> acked{};
  for (std::size_t n = 0; n < numbers.size(); ++n) {
    const auto path = segmentPath(numbers[n]);
    const std::string data = readFileFrom(path);
    Segment seg{numbers[n], 0, {}, {}};
    std::size_t off = 0;
    // A segment of this format starts with a segment record, and its CRCs cover its number.
    // One whose first record was written under another number (what a reused file held
    // before) fails its very first CRC: nothing in it is this segment's own.
    if (data.size() >= kHeader && static_cast<std::uint8_t>(data[8]) == kSegment)
      seg.salt = saltOf(seg.number);
    while (off + kHeader <= data.size()) {
      const std::uint32_t len = get32(data.data() + off);
      const std::uint32_t crc = get32(data.data() + off + 4);
      const auto type = static_cast<std::uint8_t>(data[off + 8]);
      if (len > kMaxRecord || off + kHeader + len > data.size()) break;
      const std::string_view payload(data.data() + off + kHeader, len);
      if (crcOf(seg.salt, type, payload) != crc) break;
      if (isEntry(type)) {
        EntryView e;
        if (!parseEntry(type, payload, e)) break;
        if (e.route_number && *e.route_number >= seg.routes.size()) break;  // undefined route
        ++recovery_.entries;
        next_seq_ = std::max(next_seq_, e.seq + 1);
        for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
          if (e.mask & routing::channelBit(static_cast<routing::ChannelId>(c)))
            seg.last_for_channel[c] = e.seq;
        }
      } else if (type == kSegment && off == 0 && len == 8 && get64(payload.data()) == seg.number) {
        // Its CRC, checked above under this segment's number, was all there was to check.
      } else if (type == kRoute && len > 4) {
        // Routes are numbered in the order their records come, from 0 in each segment.
        auto route = std::make_shared<routing::Route>();
        if (get32(payload.data()) != seg.routes.size() || !decodeRoute(payload.substr(4), *route))
          break;
        seg.routes.push_back(std::move(route));
      } else if (type == kAck && len == 9 &&
                 static_cast<unsigned char>(payload[0]) < routing::kMaxChannels) {
        auto& a = acked[static_cast<unsigned char>(payload[0])];
        a = std::max(a, get64(payload.data() + 1));
      } else if (type == kCheckpointV1 && len == 8 * routing::kSinkCount) {
        for (std::size_t c = 0; c < routing::kSinkCount; ++c) {
          acked[c] = std::max(acked[c], get64(payload.data() + 8 * c));
        }
      } else if (type == kCheckpoint && len % 9 == 0) {
        for (std::size_t off9 = 0; off9 < len; off9 += 9) {
          const auto c = static_cast<unsigned char>(payload[off9]);
          if (c < routing::kMaxChannels)
            acked[c] = std::max(acked[c], get64(payload.data() + off9 + 1));
        }
      } else if (type == kChannel && len >= 2 &&
                 static_cast<unsigned char>(payload[0]) < routing::kMaxChannels) {
        // A number named again (freed, then reused) takes the later name.
        cursors_[static_cast<unsigned char>(payload[0])].name.assign(payload.substr(1));
      } else {
        break;
      }
      off += kHeader + len;
    }
    if (off < data.size()) {
      // A record cut short by a crash, what a reused file held before, or damage: everything
      // from there on is unusable.
      recovery_.torn_bytes += data.size() - off;
      if (n + 1 == numbers.size()) {
        spdlog::warn(
            "journal: the last {} bytes of {} hold no complete record; truncated (a write "
            "the crash cut short, or what a reused segment file held before: none of it "
            "was acknowledged)",
            data.size() - off, path.string());
      } else {
        spdlog::error(
            "journal: {} is damaged at offset {}; its last {} bytes are dropped and "
            "the reports in them are lost",
            path.string(), off, data.size() - off);
      }
      if (truncate(path.c_str(), static_cast<off_t>(off)) != 0) fail("truncate " + path.string());
    }
    seg.size = off;
    segments_.push_back(seg);
  }
  recovery_.segments = segments_.size();

  // Pass 2: where each channel resumes, and how much waits for it.
  for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
    cursors_[c].acked = cursors_[c].read_seq = acked[c];
    cursors_[c].read_pos = Position{segments_.empty() ? 1 : segments_.back().number,
                                    segments_.empty() ? 0 : segments_.back().size};
  }
  std::array<bool, routing::kMaxChannels> placed{};
  for (const auto& seg : segments_) {
    const std::string data = readFileFrom(segmentPath(seg.number));
    for (std::size_t off = 0; off + kHeader <= seg.size;) {
      const std::uint32_t len = get32(data.data() + off);
      EntryView e;
      if (parseEntry(static_cast<std::uint8_t>(data[off + 8]),
                     std::string_view(data.data() + off + kHeader, len), e)) {
        bool pending = false;
        for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
          if (!(e.mask & routing::channelBit(static_cast<routing::ChannelId>(c))) ||
              e.seq <= acked[c])
            continue;
          pending = true;
          ++cursors_[c].backlog;
          if (!placed[c]) {
            placed[c] = true;
            cursors_[c].read_pos = Position{seg.number, off};
          }
        }
        if (pending) ++recovery_.pending;
      }
      off += kHeader + len;
    }
  }

  // A channel with nothing pending has, in effect, read everything there is.
  for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
    if (!placed[c]) cursors_[c].read_seq = next_seq_ - 1;
  }

  if (segments_.empty()) {
    openActive(1, true);
  } else {
    openActive(segments_.back().number, false);
  }
  durable_ = sync_requested_ = written_;
  dropFinishedSegments();
}

void Journal::openActive(std::uint64_t number, bool fresh) {
  const auto path = segmentPath(number);
  // A new segment takes over the spare file if there is one (there is none at first).
  if (fresh) (void)::rename(sparePath().c_str(), path.c_str());
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) fail("open " + path.string());
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  if (fresh) {
    segments_.push_back(Segment{number, 0, {}, {}});
    // The new file must survive a power loss, not just its data.
    try {
      fsyncDir(opts_.dir);
    } catch (const std::system_error& e) {
      spdlog::warn("journal: {}; a power loss now could lose the new segment's name", e.what());
    }
  }
  Segment& seg = segments_.back();
  if (lseek(fd_, static_cast<off_t>(seg.size), SEEK_SET) < 0) fail("lseek " + path.string());
  written_ = Position{number, seg.size};
  if (seg.size == 0) {  // new, or nothing of its own survived
    seg.salt = saltOf(number);
    std::string p;
    put64(p, number);
    writeRecord(kSegment, p);
    writeCheckpoint();
  }
}

std::filesystem::path Journal::sparePath() const {
  return opts_.dir / "spare.segment";
}

void Journal::trimActive() {
  // A reused file may run on past this segment's records with what it held before: cut it
  // there, durably, before another segment follows (recovery would take an older segment's
  // leftover for damage) and at a clean stop (the next start then finds no tail at all).
  struct stat st;
  if (fstat(fd_, &st) != 0 || static_cast<std::uint64_t>(st.st_size) <= written_.offset) return;
  if (ftruncate(fd_, static_cast<off_t>(written_.offset)) != 0 || fdatasync(fd_) != 0) {
    spdlog::warn(
        "journal: cannot cut {} to its {} bytes of records: {}; a later start will take the "
        "rest for damage",
        segmentPath(written_.segment).string(), written_.offset, strerror(errno));
  }
}

void Journal::writeRecord(std::uint8_t type, std::string_view payload, std::string_view body) {
  put32(buffer_, static_cast<std::uint32_t>(payload.size() + body.size()));
  put32(buffer_, crcOf(segments_.back().salt, type, payload, body));
  buffer_.push_back(static_cast<char>(type));
  buffer_.append(payload);
  buffer_.append(body);
}

void Journal::writeCheckpoint() {
  std::string p;
  for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
    if (cursors_[c].name.empty()) continue;
    writeChannel(static_cast<routing::ChannelId>(c));
    p.push_back(static_cast<char>(c));
    put64(p, cursors_[c].acked);
  }
  writeRecord(kCheckpoint, p);
}

void Journal::writeChannel(routing::ChannelId c) {
  std::string p(1, static_cast<char>(c));
  p.append(cursors_[c].name);
  writeRecord(kChannel, p);
}

void Journal::writeAck(routing::ChannelId c) {
  std::string p(1, static_cast<char>(c));
  put64(p, cursors_[c].acked);
  writeRecord(kAck, p);
}

std::optional<routing::ChannelId> Journal::channel(const std::string& name) {
  std::size_t free = routing::kMaxChannels;
  for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
    if (cursors_[c].name == name) return static_cast<routing::ChannelId>(c);
    if (cursors_[c].name.empty() && free == routing::kMaxChannels) free = c;
  }
  if (free == routing::kMaxChannels) return std::nullopt;
  // Nothing written so far is for the new channel; an entry of a channel that had this
  // number before is at or below this cursor, so it is never handed to the new one.
  Cursor& cur = cursors_[free];
  cur = Cursor{};
  cur.name = name;
  cur.acked = cur.read_seq = next_seq_ - 1;
  cur.read_pos = Position{written_.segment, written_.offset + buffer_.size()};
  const auto id = static_cast<routing::ChannelId>(free);
  writeChannel(id);
  writeAck(id);
  // Its number's bit may still be set in old segments' entries it has no part of.
  for (auto& seg : segments_)
    seg.last_for_channel[free] = 0;
  return id;
}

std::vector<std::string> Journal::forgetChannels(const std::vector<std::string>& wanted) {
  std::vector<std::string> kept;
  for (auto& cur : cursors_) {
    if (cur.name.empty() || std::find(wanted.begin(), wanted.end(), cur.name) != wanted.end()) {
      continue;
    }
    if (cur.backlog > 0) {
      kept.push_back(cur.name);
    } else {
      cur.name.clear();
    }
  }
  return kept;
}

void Journal::rotateIfFull() {
  if (written_.offset + buffer_.size() < opts_.segment_bytes || write_failing_) return;
  flush();
  syncNow();
  trimActive();
  try {
    openActive(segments_.back().number + 1, true);
  } catch (const std::system_error& e) {
    // Keep writing to the current segment, larger than planned, rather than stop.
    noteError(std::string("new segment: ") + e.what());
  }
}

std::uint64_t Journal::append(std::string_view id, std::shared_ptr<const routing::Route> route,
                              std::string_view body) {
  rotateIfFull();
  Entry e;
  e.seq = next_seq_++;
  const std::uint32_t route_number = routeNumber(route);
  // An encoded report starts with its id: the entry then says where, and holds no copy.
  const std::size_t found = body.substr(0, 64 + id.size()).find(id);
  const std::size_t id_at = found < kIdInline ? found : kIdInline;
  std::string& payload = payload_;
  payload.clear();
  put64(payload, e.seq);
  put64(payload, route->channel_mask);
  put32(payload, route_number);
  put16(payload, static_cast<std::uint16_t>(id.size()));
  put16(payload, static_cast<std::uint16_t>(id_at));
  if (id_at == kIdInline) payload.append(id);
  e.at = Position{written_.segment, written_.offset + buffer_.size()};
  writeRecord(kEntry, payload, body);
  e.end = Position{written_.segment, written_.offset + buffer_.size()};
  e.bytes = e.end.offset - e.at.offset;
  for (const auto& d : route->sinks) {
    ++cursors_[d.channel].backlog;
    segments_.back().last_for_channel[d.channel] = e.seq;
  }
  keep(e, id, id_at, body);
  e.route = std::move(route);
  cache_size_ += e.bytes;
  cache_.push_back(std::move(e));
  return cache_.back().seq;
}

void Journal::keep(Entry& e, std::string_view id, std::size_t id_at, std::string_view body) {
  const std::string_view own_id = id_at == kIdInline ? id : std::string_view();
  const std::size_t n = own_id.size() + body.size();
  if (cache_blocks_.empty() ||
      cache_blocks_.back().data.capacity() - cache_blocks_.back().data.size() < n) {
    CacheBlock& block = cache_blocks_.emplace_back();
    if (!spare_blocks_.empty()) {
      block.data = std::move(spare_blocks_.back());
      spare_blocks_.pop_back();
    }
    block.data.reserve(std::max(kCacheBlock, n));
  }
  CacheBlock& block = cache_blocks_.back();
  const std::size_t at = block.data.size();
  block.data.append(own_id);
  block.data.append(body);
  block.last_seq = e.seq;
  const std::string_view data(block.data);
  e.body = data.substr(at + own_id.size(), body.size());
  e.id = id_at == kIdInline ? data.substr(at, id.size()) : e.body.substr(id_at, id.size());
}

void Journal::dropCacheFront() {
  cache_size_ -= cache_.front().bytes;
  cache_.pop_front();
  while (!cache_blocks_.empty() &&
         (cache_.empty() || cache_blocks_.front().last_seq < cache_.front().seq)) {
    std::string data = std::move(cache_blocks_.front().data);
    cache_blocks_.pop_front();
    if (spare_blocks_.size() < 2) {
      data.clear();
      spare_blocks_.push_back(std::move(data));
    }
  }
}

Position Journal::flush() {
  if (!buffer_.empty()) {
    const std::size_t off = writeAll(fd_, buffer_);
    written_.offset += off;
    segments_.back().size = written_.offset;
    buffer_.erase(0, off);
    if (!buffer_.empty()) {
      // A full or failing disk: what was not written stays buffered and is tried again on
      // the next flush. Nothing past this point is acknowledged meanwhile, so submitters run
      // out of credit and wait: backpressure, not loss.
      noteError("write " + segmentPath(written_.segment).string() + ": " + strerror(errno));
    } else if (write_failing_) {
      write_failing_ = false;
      spdlog::warn("journal: writing works again; acknowledging resumes");
    }
    {
      std::lock_guard lk(mu_);
      sync_requested_ = written_;
      sync_requested_fd_ = fd_;
      // Without sync, the write itself is the commit point: the page cache survives a crash
      // of any process, not of the machine.
      if (!opts_.sync) durable_ = written_;
    }
    if (opts_.sync) cv_.notify_all();
  }
  // Only entries already in the file may leave the cache: the disk path reads them back.
  while (cache_size_ > opts_.cache_bytes && !cache_.empty() && cache_.front().end <= written_)
    dropCacheFront();
  return written_;
}

Position Journal::durable() const {
  std::lock_guard lk(mu_);
  return durable_;
}

void Journal::clearSyncEvent() {
  std::uint64_t v;
  while (read(sync_event_fd_, &v, sizeof v) == sizeof v) {
  }
}

void Journal::syncNow() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return durable_ >= sync_requested_ || sync_failed_; });
}

void Journal::noteError(const std::string& what) {
  if (!write_failing_) {
    spdlog::critical(
        "journal: {}; reports are not acknowledged until it works again (they "
        "wait with their submitters)",
        what);
  }
  write_failing_ = true;
  error_ = what;
}

std::string Journal::error() const {
  std::lock_guard lk(mu_);
  return sync_failed_ ? sync_error_ : error_;
}

void Journal::syncLoop() {
  // Synced records are read back only by an output that fell behind the memory cache, so
  // their pages are handed back to the kernel right away (as PostgreSQL does with its WAL):
  // the page cache then serves the operator log and the next records with pages just
  // freed, instead of holding whole segments. The page being filled stays: dropping it
  // would make the next write read it back from disk first.
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  Position dropped;  // pages of this segment before this offset were handed back
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || sync_requested_ > durable_; });
    if (sync_requested_ <= durable_) return;  // stopping with nothing left to sync
    const Position target = sync_requested_;
    const int fd = sync_requested_fd_;
    lk.unlock();
    if (fdatasync(fd) != 0) {
      // After a failed fdatasync the kernel may have dropped the dirty pages: nothing after
      // this point can be trusted to be on disk, so nothing more is acknowledged. The hub
      // keeps serving (outputs drain, status answers, DMStop works) and shows the error.
      const std::string err = strerror(errno);
      spdlog::critical(
          "journal: fdatasync failed: {}; no report is acknowledged from now on; "
          "restart the hub once the disk is healthy",
          err);
      lk.lock();
      sync_failed_ = true;
      sync_error_ = "fdatasync: " + err;
      cv_.notify_all();
      cv_.wait(lk, [&] { return stopping_; });
      return;
    }
    if (dropped.segment != target.segment) dropped = Position{target.segment, 0};
    const std::uint64_t whole = target.offset / page * page;
    if (whole > dropped.offset) {
      (void)posix_fadvise(fd, static_cast<off_t>(dropped.offset),
                          static_cast<off_t>(whole - dropped.offset), POSIX_FADV_DONTNEED);
      dropped.offset = whole;
    }
    lk.lock();
    durable_ = target;
    const std::uint64_t one = 1;
    (void)!write(sync_event_fd_, &one, sizeof one);
    cv_.notify_all();
  }
}

std::uint32_t Journal::routeNumber(const std::shared_ptr<const routing::Route>& route) {
  // A handful of routes serve every report: each is written once per segment and entries
  // name it by number. The map holds each route alive, so its address cannot be reused by
  // another while it is a key here.
  auto it = route_refs_.find(route.get());
  if (it == route_refs_.end()) {
    if (route_refs_.size() >= 4096) route_refs_.clear();  // many reloads: start over
    it = route_refs_.emplace(route.get(), RouteRef{route}).first;
  }
  RouteRef& ref = it->second;
  Segment& seg = segments_.back();
  if (ref.segment != seg.number) {
    ref.segment = seg.number;
    ref.number = static_cast<std::uint32_t>(seg.routes.size());
    seg.routes.push_back(route);
    std::string& p = payload_;
    p.clear();
    put32(p, ref.number);
    p += encodeRoute(*route);
    writeRecord(kRoute, p);
  }
  return ref.number;
}

const Entry* Journal::fromCache(routing::ChannelId channel) {
  Cursor& c = cursors_[channel];
  const std::uint64_t b = routing::channelBit(channel);
  const std::uint64_t front = cache_.front().seq;
  for (std::uint64_t seq = c.read_seq + 1; seq < next_seq_; ++seq) {
    const Entry& e = cache_[seq - front];
    c.read_seq = seq;
    c.read_pos = e.end;
    if (e.route->channel_mask & b) return &e;
  }
  return nullptr;
}

std::string_view Journal::readSpan(const Segment& seg, std::uint64_t offset, std::size_t n) {
  const bool covered = read_buf_segment_ == seg.number && offset >= read_buf_offset_ &&
                       offset + n <= read_buf_offset_ + read_buf_.size();
  if (!covered) {
    // Reads ahead: an output catching up reads records one after another.
    const std::uint64_t left = seg.size > offset ? seg.size - offset : 0;
    read_buf_.resize(std::min<std::uint64_t>(std::max(n, kReadAhead), left));
    std::size_t got = 0;
    while (got < read_buf_.size()) {
      const ssize_t r = pread(read_fd_, read_buf_.data() + got, read_buf_.size() - got,
                              static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    read_buf_.resize(got);
    read_buf_segment_ = seg.number;
    read_buf_offset_ = offset;
  }
  const std::size_t at = offset - read_buf_offset_;
  return std::string_view(read_buf_).substr(at, std::min(n, read_buf_.size() - at));
}

bool Journal::readFromDisk(routing::ChannelId channel) {
  Cursor& c = cursors_[channel];
  const std::uint64_t b = routing::channelBit(channel);
  while (c.read_pos < written_) {
    auto seg = std::find_if(segments_.begin(), segments_.end(),
                            [&](const Segment& s) { return s.number == c.read_pos.segment; });
    if (seg == segments_.end() || c.read_pos.offset >= seg->size) {
      // Past the end of this segment (or it is gone): continue in the next one.
      auto nxt = std::find_if(segments_.begin(), segments_.end(),
                              [&](const Segment& s) { return s.number > c.read_pos.segment; });
      if (nxt == segments_.end()) return false;
      c.read_pos = Position{nxt->number, 0};
      continue;
    }
    if (read_fd_ < 0 || read_fd_segment_ != seg->number) {
      const auto path = segmentPath(seg->number);  // built only when a segment is opened
      if (read_fd_ >= 0) close(read_fd_);
      read_fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (read_fd_ < 0) fail("open " + path.string());
      read_fd_segment_ = seg->number;
    }
    // A copy: reading the record may refill the buffer the header was read into.
    char header[kHeader];
    const std::string_view head = readSpan(*seg, c.read_pos.offset, kHeader);
    bool ok = head.size() == kHeader;
    if (ok) std::memcpy(header, head.data(), kHeader);
    const std::uint32_t len = ok ? get32(header) : 0;
    ok = ok && len <= kMaxRecord;
    const std::string_view record =
        ok ? readSpan(*seg, c.read_pos.offset + kHeader, len) : std::string_view();
    ok = ok && record.size() == len;
    if (!ok ||
        crcOf(seg->salt, static_cast<std::uint8_t>(header[8]), record) != get32(header + 4)) {
      spdlog::error("journal: unreadable record at {}:{}; skipping the rest of the segment",
                    segmentPath(seg->number).string(), c.read_pos.offset);
      c.read_pos = Position{seg->number, seg->size};
      continue;
    }
    const Position at = c.read_pos;
    c.read_pos.offset += kHeader + len;
    EntryView e;
    if (!parseEntry(static_cast<std::uint8_t>(header[8]), record, e)) continue;
    c.read_seq = e.seq;
    if (!(e.mask & b) || e.seq <= c.acked) continue;
    std::shared_ptr<const routing::Route> route;
    if (e.route_number) {
      // Recovery checked the number against the segment's route records; appends add them.
      if (*e.route_number >= seg->routes.size()) continue;
      route = seg->routes[*e.route_number];
    } else {
      // Earlier formats: reports of one category share their route, decoded once.
      if (e.route != read_route_bytes_ || !read_route_) {
        auto decoded = std::make_shared<routing::Route>();
        if (!decodeRoute(e.route, *decoded)) continue;
        read_route_ = std::move(decoded);
        read_route_bytes_.assign(e.route);
      }
      route = read_route_;
    }
    c.scratch.seq = e.seq;
    c.scratch_data.assign(e.id);
    c.scratch_data.append(e.body);
    c.scratch.id = std::string_view(c.scratch_data).substr(0, e.id.size());
    c.scratch.body = std::string_view(c.scratch_data).substr(e.id.size());
    c.scratch.route = std::move(route);
    c.scratch.at = at;
    c.scratch.end = c.read_pos;
    c.scratch.bytes = kHeader + len;
    return true;
  }
  return false;
}

bool Journal::readFromDiskSafely(routing::ChannelId channel) {
  try {
    return readFromDisk(channel);
  } catch (const std::system_error& e) {
    // The output waits; the next call tries again.
    if (error_ != e.what()) spdlog::error("journal: {}; the output's backlog waits", e.what());
    error_ = e.what();
    return false;
  }
}

const Entry* Journal::next(routing::ChannelId channel) {
  Cursor& c = cursors_[channel];
  auto cacheCovers = [&] { return !cache_.empty() && c.read_seq + 1 >= cache_.front().seq; };
  const Entry* e = nullptr;
  if (cacheCovers()) {
    e = fromCache(channel);
  } else if (readFromDiskSafely(channel)) {
    e = &c.scratch;
  } else if (cacheCovers()) {
    e = fromCache(channel);
  }
  if (e) c.in_flight.emplace_back(e->seq, e->at);
  return e;
}

void Journal::ack(routing::ChannelId channel, std::uint64_t upto) {
  Cursor& c = cursors_[channel];
  upto = std::min(upto, c.read_seq);
  if (upto <= c.acked) return;
  while (!c.in_flight.empty() && c.in_flight.front().first <= upto) {
    c.in_flight.pop_front();
    --c.backlog;
  }
  c.acked = upto;
  writeAck(channel);
  dropFinishedSegments();
}

void Journal::unread(routing::ChannelId channel) {
  Cursor& c = cursors_[channel];
  if (c.in_flight.empty()) return;
  c.read_seq = c.in_flight.back().first - 1;
  c.read_pos = c.in_flight.back().second;
  c.in_flight.pop_back();
}

void Journal::rewind(routing::ChannelId channel) {
  Cursor& c = cursors_[channel];
  if (c.in_flight.empty()) return;
  c.read_seq = c.in_flight.front().first - 1;
  c.read_pos = c.in_flight.front().second;
  c.in_flight.clear();
}

std::uint64_t Journal::discardPending() {
  const std::uint64_t pending = recovery_.pending;
  for (Cursor& c : cursors_) {
    c.in_flight.clear();
    c.backlog = 0;
    c.acked = c.read_seq = next_seq_ - 1;
    c.read_pos = Position{written_.segment, written_.offset + buffer_.size()};
  }
  writeCheckpoint();
  recovery_.pending = 0;
  dropFinishedSegments();
  return pending;
}

void Journal::dropFinishedSegments() {
  // The active segment stays; an older one goes once every channel is past all its entries.
  while (segments_.size() > 1) {
    const Segment& seg = segments_.front();
    bool finished = true;
    for (std::size_t c = 0; c < routing::kMaxChannels; ++c) {
      if (seg.last_for_channel[c] > cursors_[c].acked) finished = false;
    }
    if (!finished) break;
    if (read_buf_segment_ == seg.number) read_buf_.clear();
    if (read_fd_ >= 0 && read_fd_segment_ == seg.number) {
      close(read_fd_);
      read_fd_ = -1;
    }
    // One finished segment of this format becomes the spare file; the rest are deleted.
    const auto path = segmentPath(seg.number);
    std::error_code ec;
    const bool spare = seg.salt != 0 && !std::filesystem::exists(sparePath(), ec) && !ec &&
                       ::rename(path.c_str(), sparePath().c_str()) == 0;
    if (!spare) {
      ec.clear();
      std::filesystem::remove(path, ec);
    }
    if (ec) {
      spdlog::warn("journal: cannot remove finished segment {}: {}; it is kept",
                   segmentPath(seg.number).string(), ec.message());
      break;
    }
    segments_.pop_front();
  }
}

}  // namespace reporthub::hub
