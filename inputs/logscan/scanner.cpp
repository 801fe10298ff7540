// The set of followed files and what they share; see scanner.h.
#include "inputs/logscan/scanner.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>

namespace reporthub::inputs::logscan {

namespace {

constexpr std::uint32_t kDirEvents = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

Scanner::Scanner(const config::Config& cfg, Sink& sink, ScannerOptions opts)
    : cfg_(*cfg.inputs.logscan), state_file_(cfg.state_dir / "logscan" / "offsets.json") {
  FollowOptions fo;
  fo.node = cfg.node;
  fo.max_line = cfg_.max_line == 0 ? 1 : cfg_.max_line;
  fo.rotate_wait = opts.rotate_wait;
  std::set<std::filesystem::path> seen;
  for (const auto& f : cfg_.files) {
    if (!seen.insert(f.path).second) {
      spdlog::error("{} is listed twice in inputs.logscan.files; only its first entry is followed",
                    f.path.string());
      continue;
    }
    try {
      followers_.push_back(std::make_unique<Follower>(f, fo, sink));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("inputs.logscan " + f.path.string() + ": " + e.what());
    }
  }
  // Larger than max_line, so that a buffer without a newline always means a long line.
  buf_.resize(std::max<std::size_t>(opts.block, static_cast<std::size_t>(fo.max_line) + 64 * 1024));
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    spdlog::warn(
        "inotify_init1: {}; new lines are found every poll interval ({}) instead of "
        "at once",
        std::strerror(errno), formatDuration(cfg_.poll));
  }
}

Scanner::~Scanner() {
  if (inotify_fd_ >= 0) close(inotify_fd_);
}

void Scanner::start() {
  std::filesystem::create_directories(state_file_.parent_path());
  State loaded;
  try {
    loaded = loadState(state_file_);
  } catch (const std::runtime_error& e) {
    const auto aside = state_file_.string() + ".bad";
    std::rename(state_file_.c_str(), aside.c_str());
    spdlog::error(
        "{}; set aside as {}. Every file is read as if logscan had never run "
        "(start_at applies)",
        e.what(), aside);
  }
  const auto now = Clock::now();
  for (auto& f : followers_) {
    const auto it = loaded.find(f->path().string());
    f->start(it == loaded.end() ? nullptr : &it->second, now);
  }
  saved_ = std::move(loaded);
  syncWatches();
}

bool Scanner::read(std::size_t budget) {
  const auto now = Clock::now();
  bool more = false;
  for (auto& f : followers_)
    more = f->read(budget, buf_, now) || more;
  return more;
}

void Scanner::check() {
  const auto now = Clock::now();
  for (auto& f : followers_)
    f->check(now);
  syncWatches();
}

void Scanner::acked(std::uint64_t upto) {
  for (auto& f : followers_)
    f->acked(upto);
}

State Scanner::current(std::uint64_t acked) const {
  State s;
  for (const auto& f : followers_)
    s[f->path().string()] = f->state(acked);
  return s;
}

bool Scanner::dirty(std::uint64_t acked) const {
  return current(acked) != saved_;
}

bool Scanner::save(std::uint64_t acked) {
  State s = current(acked);
  if (s == saved_) return true;
  try {
    saveState(state_file_, s);
  } catch (const std::system_error& e) {
    if (!save_failing_) {
      spdlog::error(
          "cannot save offsets: {}; still following the files, but after a restart "
          "lines since the last save would be read again (outputs skip those whose "
          "report ids they remember). Said once until saving works again",
          e.what());
    }
    save_failing_ = true;
    return false;
  }
  if (save_failing_) spdlog::info("offsets saved to {} again", state_file_.string());
  save_failing_ = false;
  saved_ = std::move(s);
  return true;
}

void Scanner::syncWatches() {
  if (inotify_fd_ < 0) return;
  for (const auto& f : followers_) {
    const auto dir = f->path().parent_path();
    bool watched = false;
    for (const auto& [wd, d] : dir_watches_)
      watched = watched || d == dir;
    if (watched) continue;
    // A directory that does not exist yet is tried again at the next check.
    const int wd = inotify_add_watch(inotify_fd_, dir.c_str(), kDirEvents);
    if (wd >= 0) dir_watches_[wd] = dir;
  }
  // Files are watched through their descriptors, so the watch is on the inode being read,
  // whatever name it has by now.
  std::map<std::pair<std::uint64_t, std::uint64_t>, int> wanted;
  for (const auto& f : followers_) {
    for (const auto& o : f->openFiles())
      wanted[{o.dev, o.ino}] = o.fd;
  }
  for (auto it = file_watches_.begin(); it != file_watches_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    inotify_rm_watch(inotify_fd_, it->second);
    it = file_watches_.erase(it);
  }
  for (const auto& [id, fd] : wanted) {
    if (file_watches_.count(id)) continue;
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    const int wd = inotify_add_watch(inotify_fd_, proc.c_str(), IN_MODIFY);
    if (wd >= 0) file_watches_[id] = wd;
  }
}

bool Scanner::drainNotify() {
  if (inotify_fd_ < 0) return false;
  alignas(inotify_event) char buf[16 * 1024];
  bool names = false;
  for (;;) {
    const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        names = true;
        continue;
      }
      const auto dir = dir_watches_.find(ev->wd);
      if (ev->mask & IN_IGNORED) {  // the watched inode is gone
        if (dir != dir_watches_.end()) {
          dir_watches_.erase(dir);
          names = true;
        }
        for (auto it = file_watches_.begin(); it != file_watches_.end(); ++it) {
          if (it->second == ev->wd) {
            file_watches_.erase(it);
            break;
          }
        }
        continue;
      }
      if (dir == dir_watches_.end()) continue;
      if (ev->len == 0) {
        names = true;
        continue;
      }
      // A rename within the directory comes as MOVED_FROM and MOVED_TO with one cookie: it
      // tells where a followed path's file went, even one renamed before it was opened.
      const std::string_view name(ev->name);
      if (ev->mask & IN_MOVED_FROM) moves_[ev->cookie] = {ev->wd, std::string(name)};
      if (ev->mask & IN_MOVED_TO) {
        const auto from = moves_.find(ev->cookie);
        if (from != moves_.end() && from->second.first == ev->wd) {
          for (auto& f : followers_) {
            if (f->path().parent_path() == dir->second &&
                f->path().filename() == from->second.second) {
              f->movedTo(std::string(name));
            }
          }
          moves_.erase(from);
        }
      }
      // Only names that could be a followed file or one of its rotated names matter.
      for (const auto& f : followers_) {
        const std::string base = f->path().filename().string();
        if (f->path().parent_path() == dir->second && name.substr(0, base.size()) == base) {
          names = true;
        }
      }
    }
  }
  // A MOVED_FROM without its MOVED_TO went to another directory; the pair nearly always comes
  // in one read, but may be split, so a few are kept.
  if (moves_.size() > 64) moves_.clear();
  return names;
}

bool Scanner::wantsCheck() const {
  for (const auto& f : followers_) {
    if (f->wantsCheck()) return true;
  }
  return false;
}

std::size_t Scanner::filesFollowed() const {
  std::size_t n = 0;
  for (const auto& f : followers_)
    n += f->filesFollowed();
  return n;
}

}  // namespace reporthub::inputs::logscan
