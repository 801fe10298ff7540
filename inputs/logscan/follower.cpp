// Following one log path; see follower.h. Files are told apart by device, inode and birth
// time, their content by a hash of their first bytes; offsets only ever count lines whose
// reports the hub acknowledged, so a kill at any moment loses nothing.
#include "inputs/logscan/follower.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace reporthub::inputs::logscan {

namespace {

constexpr std::uint32_t kFingerprintMax = 1024;
// A burst of rotations must not pile up open files: beyond this many rotated files per path
// the oldest is finished as soon as it is read to its end.
constexpr std::size_t kMaxRotated = 16;
constexpr unsigned kStatxMask = STATX_TYPE | STATX_INO | STATX_SIZE | STATX_BTIME;

constexpr std::uint64_t kFnvBasis = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

// FNV-1a: small, and stable across builds and machines, which std::hash does not promise;
// report ids derived from it must come out the same after an upgrade.
std::uint64_t fnv(std::uint64_t h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

template <typename T>
std::uint64_t fnvValue(std::uint64_t h, T v) {
  return fnv(h, &v, sizeof v);
}

std::uint64_t makeKey(const std::string& node, const std::string& path, std::uint64_t dev,
                      std::uint64_t ino, std::int64_t btime, std::uint32_t gen) {
  std::uint64_t h = fnv(kFnvBasis, node.data(), node.size() + 1);  // with the NUL: a separator
  h = fnv(h, path.data(), path.size() + 1);
  h = fnvValue(h, dev);
  h = fnvValue(h, ino);
  h = fnvValue(h, btime);
  return fnvValue(h, gen);
}

// Hash of the first `len` bytes of `fd`; false if it holds fewer.
bool hashPrefix(int fd, std::uint32_t len, std::uint64_t& out) {
  char buf[kFingerprintMax];
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = pread(fd, buf + got, len - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  out = fnv(kFnvBasis, buf, len);
  return true;
}

std::int64_t btimeNs(const struct statx& sx) {
  if (!(sx.stx_mask & STATX_BTIME)) return 0;
  return static_cast<std::int64_t>(sx.stx_btime.tv_sec) * 1'000'000'000 + sx.stx_btime.tv_nsec;
}

std::uint64_t devOf(const struct statx& sx) {
  return makedev(sx.stx_dev_major, sx.stx_dev_minor);
}

bool sameFile(const FileRecord& r, std::uint64_t dev, std::uint64_t ino, std::int64_t btime) {
  // Birth time tells a new file from an old one that had the same inode number (inodes are
  // reused as soon as rotation deletes a file); where either side lacks it, inode decides.
  return r.dev == dev && r.ino == ino && (r.btime_ns == 0 || btime == 0 || r.btime_ns == btime);
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

struct Follower::Opened {
  int fd = -1;
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t btime = 0;
  std::filesystem::path where;

  Opened() = default;
  Opened(const Opened&) = delete;
  Opened& operator=(const Opened&) = delete;
  ~Opened() {
    if (fd >= 0) close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
  // Opens `p` if it is a regular file. False with errno set otherwise.
  bool open(const std::filesystem::path& p) {
    if (fd >= 0) close(fd);
    // O_NONBLOCK: a FIFO put where a log was expected must not block the scanner.
    fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return false;
    struct statx sx {};
    const bool ok = statx(fd, "", AT_EMPTY_PATH, kStatxMask, &sx) == 0;
    if (!ok || !S_ISREG(sx.stx_mode)) {
      const int err = ok ? EINVAL : errno;  // EINVAL: not a regular file
      close(fd);
      fd = -1;
      errno = err;
      return false;
    }
    dev = devOf(sx);
    ino = sx.stx_ino;
    size = sx.stx_size;
    btime = btimeNs(sx);
    where = p;
    return true;
  }
};

struct Follower::Tracked {
  int fd = -1;
  FileRecord rec;               // identity; rec.offset is refreshed only in state()
  std::filesystem::path where;  // the name it was opened under
  std::uint64_t scanned = 0;    // every line before it is scanned and its reports submitted
  // The start of the latest line with a report submitted: inside a block being scanned,
  // every line before it is done, while `scanned` is still the block's start.
  std::uint64_t submitted_line = 0;
  std::uint64_t read_pos = 0;   // next byte to read: == scanned, or inside a long line
  std::uint64_t size_seen = 0;  // largest size seen, to notice growth and lost bytes
  bool discarding = false;      // skipping the rest of a line longer than max_line
  bool finished = false;        // read to its end and closed
  bool read_failing = false;    // the last read failed (logged once per streak)
  // (seq, line offset) of submitted reports not yet acknowledged, in order.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> pending;
  std::uint64_t long_seq = 0;  // seq of the long-line notice, until acknowledged
  Clock::time_point last_growth{};

  ~Tracked() {
    if (fd >= 0) close(fd);
  }
  // Where reading resumes after a kill: the first line with a report not acknowledged by
  // seq `acked`; with all acknowledged, the latest line with a report (read again, its
  // reports keep their ids) or the end of the last block scanned, whichever is further.
  std::uint64_t safeOffset(std::uint64_t acked) const {
    for (const auto& [seq, offset] : pending) {
      if (seq > acked) return offset;
    }
    return std::max(scanned, submitted_line);
  }
  void submitted(std::uint64_t seq, std::uint64_t line) {
    pending.emplace_back(seq, line);
    submitted_line = line;
  }
  std::uint64_t fileSize() const {
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
};

Follower::Follower(const config::LogFile& cfg, const FollowOptions& opts, Sink& sink)
    : cfg_(cfg),
      opts_(opts),
      sink_(sink),
      rules_(cfg.rules, opts.max_line),
      path_str_(cfg.path.string()) {}

Follower::~Follower() = default;

std::unique_ptr<Follower::Tracked> Follower::track(const Opened& o, std::uint32_t gen,
                                                   std::uint64_t offset) {
  auto t = std::make_unique<Tracked>();
  t->where = o.where;
  t->rec.dev = o.dev;
  t->rec.ino = o.ino;
  t->rec.btime_ns = o.btime;
  t->rec.gen = gen;
  t->rec.key = makeKey(opts_.node, path_str_, o.dev, o.ino, o.btime, gen);
  t->rec.fp_len = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.size, kFingerprintMax));
  if (!hashPrefix(o.fd, t->rec.fp_len, t->rec.fp)) {
    t->rec.fp_len = 0;  // shrank meanwhile; fingerprinted again once it has content
    t->rec.fp = fnv(kFnvBasis, nullptr, 0);
  }
  t->scanned = t->read_pos = offset;
  t->size_seen = o.size;
  return t;
}

std::unique_ptr<Follower::Tracked> Follower::resume(const Opened& o, const FileRecord& rec) {
  auto t = std::make_unique<Tracked>();
  t->where = o.where;
  t->rec = rec;
  t->scanned = t->read_pos = rec.offset;
  t->size_seen = o.size;
  return t;
}

bool Follower::locate(const FileRecord& rec, Opened& o, bool& at_path) {
  struct statx sx;
  if (statx(AT_FDCWD, cfg_.path.c_str(), 0, kStatxMask, &sx) == 0 &&
      sameFile(rec, devOf(sx), sx.stx_ino, btimeNs(sx)) && o.open(cfg_.path) &&
      sameFile(rec, o.dev, o.ino, o.btime)) {
    at_path = true;
    return true;
  }
  // Rotated while logscan was not running: look for its inode under another name beside it.
  // Names that start like the file's are looked at even if the directory entry shows another
  // inode number (overlay file systems may show one that stat does not).
  const auto dir = cfg_.path.parent_path();
  const std::string base = cfg_.path.filename().string();
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (e->d_ino != rec.ino && name.compare(0, base.size(), base) != 0) continue;
    const auto full = dir / name;
    if (full == cfg_.path) continue;
    struct statx sx;
    if (statx(dirfd(d), e->d_name, 0, kStatxMask, &sx) != 0 ||
        !sameFile(rec, devOf(sx), sx.stx_ino, btimeNs(sx))) {
      continue;
    }
    if (o.open(full) && sameFile(rec, o.dev, o.ino, o.btime)) {
      found = true;
      break;
    }
  }
  closedir(d);
  at_path = false;
  return found;
}

bool Follower::findCopy(const Tracked& t, Opened& o) {
  // Copy-truncate (logrotate's copytruncate) leaves the old content in a copy beside the
  // file, named after it (app.log.1, app.log-20260101): its first bytes are those of the file
  // we were reading, and it is at least as long as what we had read.
  if (t.rec.fp_len == 0) return false;
  const auto dir = cfg_.path.parent_path();
  const std::string base = cfg_.path.filename().string();
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= base.size() || name.compare(0, base.size(), base) != 0) continue;
    bool known = current_ && current_->rec.ino == e->d_ino;
    for (const auto& r : rotated_)
      known = known || (!r->finished && r->rec.ino == e->d_ino);
    if (known) continue;
    std::uint64_t fp = 0;
    if (o.open(dir / name) && o.size >= t.read_pos && hashPrefix(o.fd, t.rec.fp_len, fp) &&
        fp == t.rec.fp) {
      found = true;
      break;
    }
  }
  closedir(d);
  if (!found && o.fd >= 0) close(o.release());
  return found;
}

void Follower::retire(std::unique_ptr<Tracked> t, Clock::time_point now, bool finished) {
  t->last_growth = now;
  if (finished) {
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    t->finished = true;
  }
  rotated_.push_back(std::move(t));
  std::size_t open = 0;
  for (auto it = rotated_.rbegin(); it != rotated_.rend(); ++it) {
    if ((*it)->finished) continue;
    // Too many rotated files still open: the oldest end as soon as they are read.
    if (++open > kMaxRotated) (*it)->last_growth = Clock::time_point{};
  }
}

void Follower::start(const PathState* saved, Clock::time_point now) {
  if (!saved) {
    apply_start_at_ = true;
    check(now);
    apply_start_at_ = false;
    if (!current_) {
      spdlog::info("{} does not exist yet; it is followed from its start once it appears",
                   path_str_);
      warned_missing_ = true;
    }
    return;
  }
  for (const FileRecord& rec : saved->files) {
    Opened o;
    bool at_path = false;
    if (!locate(rec, o, at_path) || (at_path && current_)) {
      spdlog::warn(
          "{}: the file read up to offset {} (inode {}) is no longer there; anything written "
          "to it after that offset could not be read",
          path_str_, rec.offset, rec.ino);
      continue;
    }
    std::uint64_t fp = 0;
    const bool holds = o.size >= rec.offset &&
                       (rec.fp_len == 0 || (hashPrefix(o.fd, rec.fp_len, fp) && fp == rec.fp));
    if (holds) {
      auto t = resume(o, rec);
      t->fd = o.release();
      if (at_path) {
        spdlog::info("resuming {} (inode {}) at offset {}", path_str_, rec.ino, rec.offset);
        current_ = std::move(t);
      } else {
        spdlog::info(
            "{} was rotated to {} while logscan was not running; reading it from "
            "offset {} before the new file",
            path_str_, t->where.string(), rec.offset);
        retire(std::move(t), now, false);
      }
      continue;
    }
    if (!at_path) {
      spdlog::warn(
          "{}: its rotated file {} no longer holds what was read from it; it is not "
          "read again",
          path_str_, o.where.string());
      continue;
    }
    // Truncated (or replaced in place) while logscan was not running.
    auto old = resume(o, rec);
    Opened copy;
    if (findCopy(*old, copy)) {
      spdlog::info(
          "{} was truncated while logscan was not running; reading the rest of the "
          "old content from its copy {}, then the file from its start",
          path_str_, copy.where.string());
      old->where = copy.where;
      old->rec.dev = copy.dev;
      old->rec.ino = copy.ino;
      old->rec.btime_ns = copy.btime;
      old->fd = copy.release();
      retire(std::move(old), now, false);
    } else {
      spdlog::warn(
          "{} was truncated while logscan was not running and no copy of its old "
          "content was found beside it; anything written after offset {} of the old "
          "content could not be read. Reading it from its start",
          path_str_, rec.offset);
    }
    current_ = track(o, rec.gen + 1, 0);
    current_->fd = o.release();
  }
  if (!current_) check(now);
}

void Follower::check(Clock::time_point now) {
  wants_check_ = false;
  struct statx sx;
  const bool exists =
      statx(AT_FDCWD, cfg_.path.c_str(), 0, kStatxMask, &sx) == 0 && S_ISREG(sx.stx_mode);
  if (current_ && (!exists || !sameFile(current_->rec, devOf(sx), sx.stx_ino, btimeNs(sx)))) {
    if (exists) {
      spdlog::info(
          "{} was rotated (the name now leads to another file); finishing the old "
          "file, then following the new one",
          path_str_);
    } else {
      spdlog::info("{} was renamed or removed; finishing what was written to it", path_str_);
    }
    retire(std::move(current_), now, false);
  }
  for (const auto& name : moved_to_) {
    Opened o;
    if (!o.open(cfg_.path.parent_path() / name)) continue;
    bool known = current_ && sameFile(current_->rec, o.dev, o.ino, o.btime);
    for (const auto& t : rotated_)
      known = known || sameFile(t->rec, o.dev, o.ino, o.btime);
    if (known) continue;
    spdlog::info(
        "{} was created and renamed to {} before logscan could open it; reading that "
        "file from its start",
        path_str_, o.where.string());
    auto t = track(o, 0, 0);
    t->fd = o.release();
    retire(std::move(t), now, false);
  }
  moved_to_.clear();
  if (!current_ && exists) {
    Opened o;
    if (o.open(cfg_.path)) {
      std::uint64_t offset = 0;
      if (apply_start_at_ && cfg_.start_at == config::StartAt::end) {
        // Start after the last complete line, so a line being written is read whole.
        const std::uint64_t tail = std::min<std::uint64_t>(o.size, 64 * 1024);
        std::string buf(tail, '\0');
        const ssize_t n = pread(o.fd, buf.data(), tail, static_cast<off_t>(o.size - tail));
        const auto nl =
            n > 0 ? buf.rfind('\n', static_cast<std::size_t>(n) - 1) : std::string::npos;
        offset = nl != std::string::npos ? o.size - tail + nl + 1 : (o.size > tail ? o.size : 0);
      }
      current_ = track(o, 0, offset);
      current_->fd = o.release();
      warned_missing_ = false;
      spdlog::info("following {} (inode {}) from offset {}", path_str_, current_->rec.ino, offset);
    } else if (!warned_missing_) {
      warned_missing_ = true;
      spdlog::warn("cannot open {}: {}; trying again every poll interval", path_str_,
                   std::strerror(errno));
    }
  }
  if (current_) {
    const std::uint64_t size = current_->fileSize();
    if (size < current_->read_pos) {
      truncated(now, "it became shorter than the offset read");
    } else if (!fingerprintHolds(*current_, size)) {
      truncated(now, "its first bytes changed");
    }
  }
  for (auto& t : rotated_) {
    if (t->finished) continue;
    const std::uint64_t size = t->fileSize();
    if (size > t->size_seen) {
      t->size_seen = size;
      t->last_growth = now;
    }
    if (now - t->last_growth >= opts_.rotate_wait) {
      if (finish_buf_.size() <= opts_.max_line) finish_buf_.resize(opts_.max_line + 64 * 1024);
      finish(*t, finish_buf_);
    }
  }
  dropDone();
}

bool Follower::fingerprintHolds(Tracked& t, std::uint64_t size) {
  std::uint64_t fp = 0;
  if (t.rec.fp_len > 0 && (!hashPrefix(t.fd, t.rec.fp_len, fp) || fp != t.rec.fp)) return false;
  // A file first seen nearly empty gets a longer fingerprint as it grows.
  if (t.rec.fp_len < kFingerprintMax && size > t.rec.fp_len) {
    const auto len = static_cast<std::uint32_t>(std::min<std::uint64_t>(size, kFingerprintMax));
    if (hashPrefix(t.fd, len, fp)) {
      t.rec.fp_len = len;
      t.rec.fp = fp;
    }
  }
  return true;
}

void Follower::truncated(Clock::time_point now, const char* how) {
  auto old = std::move(current_);
  Opened same;  // the truncated file itself, read again from its start as a new generation
  same.fd = old->fd;
  old->fd = -1;
  same.where = cfg_.path;
  same.dev = old->rec.dev;
  same.ino = old->rec.ino;
  same.btime = old->rec.btime_ns;
  struct stat st;
  same.size = fstat(same.fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  auto fresh = track(same, old->rec.gen + 1, 0);
  fresh->fd = same.release();

  Opened copy;
  if (findCopy(*old, copy)) {
    spdlog::info(
        "{} was truncated ({}); reading the rest of the old content from its copy "
        "{}, then the file from its start",
        path_str_, how, copy.where.string());
    old->where = copy.where;
    old->rec.dev = copy.dev;
    old->rec.ino = copy.ino;
    old->rec.btime_ns = copy.btime;
    old->size_seen = copy.size;
    old->fd = copy.release();
    retire(std::move(old), now, false);
  } else {
    const std::uint64_t unread =
        old->size_seen > old->read_pos ? old->size_seen - old->read_pos : 0;
    if (unread > 0) {
      spdlog::warn(
          "{} was truncated ({}) with {} bytes after offset {} not yet read, and no "
          "copy of them was found beside it: they are lost. Reading it from its start",
          path_str_, how, unread, old->read_pos);
    } else {
      spdlog::info("{} was truncated ({}); reading it from its start", path_str_, how);
    }
    retire(std::move(old), now, true);
  }
  current_ = std::move(fresh);
}

std::size_t Follower::readSome(Tracked& t, std::vector<char>& buf, Clock::time_point now) {
  ssize_t n;
  do {
    n = pread(t.fd, buf.data(), buf.size(), static_cast<off_t>(t.read_pos));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (!t.read_failing) {
      spdlog::error(
          "read {}: {}; trying again at every change and poll (said once until a "
          "read works)",
          t.where.string(), std::strerror(errno));
    }
    t.read_failing = true;
    return 0;
  }
  t.read_failing = false;
  if (n == 0) {
    // Shorter than where we are: truncated. The check that handles it is due at once.
    if (&t == current_.get() && t.fileSize() < t.read_pos) wants_check_ = true;
    return 0;
  }
  const auto len = static_cast<std::size_t>(n);
  // Truncated and written again since the last look (copy-truncate while we were behind):
  // these bytes belong to the new content, not after our offset in the old. Checked after
  // the read, so a truncation during it is seen too; the check then switches generations.
  if (&t == current_.get() && !fingerprintHolds(t, t.read_pos + len)) {
    wants_check_ = true;
    return 0;
  }
  if (t.read_pos + len > t.size_seen) {
    t.size_seen = t.read_pos + len;
    t.last_growth = now;
  }
  const char* data = buf.data();
  if (t.discarding) {
    const void* nl = std::memchr(data, '\n', len);
    if (!nl) {
      t.read_pos += len;
      return len;
    }
    const std::size_t used = static_cast<const char*>(nl) - data + 1;
    t.read_pos += used;
    t.scanned = t.read_pos;
    t.discarding = false;
    return used;
  }
  const void* last = memrchr(data, '\n', len);
  if (last) {
    const std::size_t used = static_cast<const char*>(last) - data + 1;
    process(t, std::string_view(data, used), false);
    t.read_pos += used;
    t.scanned = t.read_pos;
    return used;
  }
  if (len > opts_.max_line) {
    // A line longer than max_line with no end in sight: its head is the line; the rest is
    // skipped up to its newline. The offset stays at its start until then, so a restart
    // reads it again (with the same report ids).
    process(t, std::string_view(data, len), true);
    t.read_pos += len;
    t.discarding = true;
    return len;
  }
  return 0;  // a partial last line: wait for its newline
}

void Follower::finish(Tracked& t, std::vector<char>& buf) {
  const auto now = Clock::now();
  while (readSome(t, buf, now) > 0) {
  }
  ssize_t n;
  do {
    n = pread(t.fd, buf.data(), buf.size(), static_cast<off_t>(t.read_pos));
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    // Its last line never got a newline and never will: take it as it is.
    if (!t.discarding) process(t, std::string_view(buf.data(), static_cast<std::size_t>(n)), true);
    t.read_pos += static_cast<std::uint64_t>(n);
  }
  t.discarding = false;
  t.scanned = t.read_pos;
  close(t.fd);
  t.fd = -1;
  t.finished = true;
  // `where` may be stale by now (a rename is what made it a rotated file): name the inode.
  spdlog::info("{}: finished reading its rotated file (inode {}) at offset {}", path_str_,
               t.rec.ino, t.read_pos);
}

void Follower::process(Tracked& t, std::string_view block, bool final) {
  const std::uint64_t base = t.read_pos;
  const std::string key = hex16(t.rec.key);
  rules_.scan(
      block, final,
      [&](const Match& m) {
        const std::uint64_t offset = base + m.line_pos;
        const auto& rule = rules_.rule(m.rule);
        Report r;
        r.id = "ls-" + key + "-" + std::to_string(offset) + "-" + std::to_string(m.rule + 1);
        r.ts_ns = nowNs();
        r.origin = opts_.node;
        r.source = "logscan";
        r.category = rule.category;
        r.severity = rule.severity;
        r.text = rules_.text(m);
        r.attrs = {{"file", path_str_},
                   {"offset", std::to_string(offset)},
                   {"rule", std::to_string(m.rule + 1)}};
        if (m.truncated) r.attrs["truncated"] = "true";
        const std::uint64_t seq = sink_.submit(r);
        if (seq == 0) throw Stopping{};
        t.submitted(seq, offset);
      },
      [&](std::size_t pos, std::size_t) {
        ++t.rec.long_lines;
        if (t.rec.long_said || t.long_seq != 0) return;
        const std::uint64_t offset = base + pos;
        spdlog::warn(
            "{}: the line at offset {} is longer than max_line ({} bytes); such lines "
            "are cut to max_line for matching and report text, and counted (said "
            "once per file)",
            path_str_, offset, opts_.max_line);
        Report r;
        r.id = "ls-" + key + "-" + std::to_string(offset) + "-long";
        r.ts_ns = nowNs();
        r.origin = opts_.node;
        r.source = "logscan";
        r.category = "REPORTHUB";
        r.severity = Severity::warning;
        r.text = "logscan: " + path_str_ + " has lines longer than max_line (" +
                 std::to_string(opts_.max_line) + " bytes), the first at offset " +
                 std::to_string(offset) +
                 "; they are cut to that length for matching and report text";
        r.attrs = {{"file", path_str_}, {"offset", std::to_string(offset)}};
        const std::uint64_t seq = sink_.submit(r);
        if (seq == 0) throw Stopping{};
        t.long_seq = seq;
        t.submitted(seq, offset);
      });
}

bool Follower::read(std::size_t budget, std::vector<char>& buf, Clock::time_point now) {
  std::size_t done = 0;
  auto drain = [&](Tracked& t) {
    while (done < budget) {
      const std::size_t n = readSome(t, buf, now);
      if (n == 0) break;
      done += n;
    }
  };
  // The old content before the new: a rotated file is read before the path's new file.
  for (auto& t : rotated_) {
    if (!t->finished) drain(*t);
  }
  if (current_) drain(*current_);
  return done >= budget;
}

void Follower::acked(std::uint64_t upto) {
  auto pop = [upto](Tracked& t) {
    while (!t.pending.empty() && t.pending.front().first <= upto)
      t.pending.pop_front();
    if (t.long_seq != 0 && t.long_seq <= upto) {
      t.rec.long_said = true;
      t.long_seq = 0;
    }
  };
  for (auto& t : rotated_)
    pop(*t);
  if (current_) pop(*current_);
  dropDone();
}

void Follower::dropDone() {
  rotated_.erase(std::remove_if(rotated_.begin(), rotated_.end(),
                                [](const auto& t) { return t->finished && t->pending.empty(); }),
                 rotated_.end());
}

PathState Follower::state(std::uint64_t acked) const {
  PathState ps;
  auto add = [&ps, acked](const Tracked& t, bool current) {
    if (t.finished && t.safeOffset(acked) >= t.scanned) return;  // done, acknowledged
    FileRecord r = t.rec;
    r.offset = t.safeOffset(acked);
    r.current = current;
    r.long_said = r.long_said || (t.long_seq != 0 && t.long_seq <= acked);
    ps.files.push_back(r);
  };
  for (const auto& t : rotated_)
    add(*t, false);
  if (current_) add(*current_, true);
  return ps;
}

std::vector<Follower::OpenFile> Follower::openFiles() const {
  std::vector<OpenFile> out;
  for (const auto& t : rotated_) {
    if (t->fd >= 0) out.push_back({t->fd, t->rec.dev, t->rec.ino});
  }
  if (current_ && current_->fd >= 0) {
    out.push_back({current_->fd, current_->rec.dev, current_->rec.ino});
  }
  return out;
}

std::size_t Follower::filesFollowed() const {
  std::size_t n = current_ ? 1 : 0;
  for (const auto& t : rotated_)
    n += t->finished ? 0 : 1;
  return n;
}

}  // namespace reporthub::inputs::logscan
