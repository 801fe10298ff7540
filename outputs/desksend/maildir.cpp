// Maildir delivery in stage / sync / publish steps; see maildir.h.
#include "outputs/desksend/maildir.h"

#include "common/file_io.h"
#include "outputs/desksend/message.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace reporthub::outputs::desksend {

namespace {

// Up to this many staged files are fdatasynced one by one; a larger batch is made durable
// with one syncfs per filesystem instead (one journal commit instead of one per file).
constexpr std::size_t kSyncEach = 2;
// Likewise for the new/ directories whose renames must be made durable.
constexpr std::size_t kSyncDirsEach = 4;

std::string sysError(const std::string& call, const std::filesystem::path& p) {
  return call + " " + p.string() + ": " + strerror(errno);
}

bool makeDir(const std::filesystem::path& p, bool chown_it, uid_t uid, gid_t gid,
             std::string& error) {
  if (mkdir(p.c_str(), 0700) == 0) {
    if (chown_it && chown(p.c_str(), uid, gid) != 0) {
      error = sysError("chown", p);
      return false;
    }
    return true;
  }
  if (errno == EEXIST) return true;
  error = sysError("mkdir", p);
  return false;
}

bool fsyncPath(const std::filesystem::path& p, std::string& error) {
  const int fd = open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    error = sysError(fd < 0 ? "open" : "fsync", p);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

}  // namespace

Maildir::Maildir(std::filesystem::path root, std::string host)
    : root_(std::move(root)), host_(std::move(host)) {}

Maildir::~Maildir() {
  closeStaged();
}

std::string Maildir::hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string out;
  for (const char* p = buf; *p; ++p) {
    if (*p == '/') {
      out += "\\057";
    } else if (*p == ':') {
      out += "\\072";
    } else {
      out += *p;
    }
  }
  return out;
}

std::string Maildir::fileName(const Report& r) const {
  const std::int64_t secs = r.ts_ns > 0 ? r.ts_ns / 1'000'000'000 : 0;
  return std::to_string(secs) + ".rh_" + encodeNamePart(r.id) + "." + host_;
}

std::optional<std::string> Maildir::idOfFileName(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
  for (char c : name.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  auto rest = name.substr(dot + 1);
  if (!rest.starts_with("rh_")) return std::nullopt;
  rest.remove_prefix(3);
  const auto end = rest.find('.');
  if (end == 0 || end == std::string_view::npos || end + 1 == rest.size()) return std::nullopt;
  auto id = decodeNamePart(rest.substr(0, end));
  if (!id || !validReportId(*id)) return std::nullopt;
  return id;
}

const Maildir::UserDir* Maildir::prepare(const std::string& user, std::string& error) {
  if (auto it = users_.find(user); it != users_.end()) return &it->second;
  if (!makeDir(root_, false, 0, 0, error)) return nullptr;
  UserDir u;
  u.dir = root_ / user;
  if (!makeDir(u.dir, false, 0, 0, error)) return nullptr;
  struct stat st {};
  if (stat(u.dir.c_str(), &st) != 0) {
    error = sysError("stat", u.dir);
    return nullptr;
  }
  u.uid = st.st_uid;
  u.gid = st.st_gid;
  u.dev = st.st_dev;
  // A Maildir that an administrator made for a user keeps belonging to that user.
  u.chown = geteuid() == 0 && st.st_uid != 0;
  for (const char* sub : {"tmp", "new", "cur"}) {
    if (!makeDir(u.dir / sub, u.chown, u.uid, u.gid, error)) return nullptr;
  }
  return &users_.emplace(user, std::move(u)).first->second;
}

bool Maildir::stage(const std::string& user, const std::string& name, std::string_view message,
                    std::string& error) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const UserDir* u = prepare(user, error);
    if (!u) return false;
    const auto path = u->dir / "tmp" / name;
    // O_TRUNC: a file left by an unpublished batch is rewritten with the same bytes.
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && attempt == 0) {
      // The directory went away while we ran (removed by hand): create it again.
      users_.erase(user);
      continue;
    }
    if (fd < 0) {
      error = sysError("open", path);
      return false;
    }
    const bool written = writeAll(fd, message) == message.size();
    if (!written || (u->chown && fchown(fd, u->uid, u->gid) != 0)) {
      error = sysError(written ? "chown" : "write", path);
      close(fd);
      return false;
    }
    Staged s{user, name, fd};
    if (staged_.size() >= kSyncEach || !all_open_) {
      // A large batch is synced with syncfs: no descriptor needs to stay open.
      close(fd);
      s.fd = -1;
      all_open_ = false;
      for (auto& other : staged_) {
        if (other.fd >= 0) close(other.fd);
        other.fd = -1;
      }
    }
    staged_names_.insert(user + '/' + name);  // a user name holds no '/'
    staged_.push_back(std::move(s));
    return true;
  }
  return false;
}

bool Maildir::isStaged(const std::string& user, const std::string& name) const {
  return staged_names_.contains(user + '/' + name);
}

bool Maildir::inTmp(const std::string& user, const std::string& name) const {
  struct stat st {};
  return stat((root_ / user / "tmp" / name).c_str(), &st) == 0;
}

bool Maildir::syncFilesystems(const std::vector<const UserDir*>& dirs, std::string& error) {
  std::set<dev_t> done;
  for (const UserDir* u : dirs) {
    if (!done.insert(u->dev).second) continue;
    const int fd = open(u->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) {
      error = sysError(fd < 0 ? "open" : "syncfs", u->dir);
      if (fd >= 0) close(fd);
      return false;
    }
    close(fd);
  }
  return true;
}

bool Maildir::sync(std::string& error) {
  if (staged_.empty()) return true;
  bool ok = true;
  if (all_open_) {
    for (auto& s : staged_) {
      if (ok && fdatasync(s.fd) != 0) {
        error = sysError("fdatasync", root_ / s.user / "tmp" / s.name);
        ok = false;
      }
    }
  } else {
    std::vector<const UserDir*> dirs;
    for (const auto& s : staged_)
      dirs.push_back(&users_.at(s.user));
    ok = syncFilesystems(dirs, error);
  }
  closeStaged();
  return ok;
}

bool Maildir::publish(std::string& error) {
  std::vector<const UserDir*> dirs;
  std::set<std::string_view> seen;
  bool ok = true;
  for (const auto& s : staged_) {
    const UserDir& u = users_.at(s.user);
    const auto from = u.dir / "tmp" / s.name;
    const auto to = u.dir / "new" / s.name;
    if (rename(from.c_str(), to.c_str()) != 0) {
      error = sysError("rename", from) + " (to " + to.string() + ")";
      ok = false;
      break;
    }
    if (seen.insert(s.user).second) dirs.push_back(&u);
  }
  if (ok) {
    if (dirs.size() <= kSyncDirsEach) {
      for (const UserDir* u : dirs) {
        if (!fsyncPath(u->dir / "new", error)) {
          ok = false;
          break;
        }
      }
    } else {
      ok = syncFilesystems(dirs, error);
    }
  }
  discard();
  return ok;
}

void Maildir::discard() {
  closeStaged();
  staged_.clear();
  staged_names_.clear();
  all_open_ = true;
}

void Maildir::closeStaged() {
  for (auto& s : staged_) {
    if (s.fd >= 0) close(s.fd);
    s.fd = -1;
  }
}

std::pair<std::size_t, std::size_t> Maildir::sweep(
    const std::vector<std::string>& users,
    const std::function<bool(const std::string& user, const std::string& id)>& recorded) {
  std::size_t moved = 0, removed = 0;
  for (const auto& user : users) {
    const auto tmp = root_ / user / "tmp";
    DIR* d = opendir(tmp.c_str());
    if (!d) continue;  // never delivered to: nothing left over
    std::vector<std::string> names;
    while (const dirent* e = readdir(d)) {
      if (idOfFileName(e->d_name)) names.emplace_back(e->d_name);
    }
    closedir(d);
    bool moved_here = false;
    for (const auto& name : names) {
      const auto from = tmp / name;
      if (recorded(user, *idOfFileName(name))) {
        const auto to = root_ / user / "new" / name;
        if (rename(from.c_str(), to.c_str()) == 0) {
          ++moved;
          moved_here = true;
        }
      } else if (unlink(from.c_str()) == 0) {
        ++removed;
      }
    }
    std::string ignored;
    if (moved_here) fsyncPath(root_ / user / "new", ignored);
  }
  return {moved, removed};
}

}  // namespace reporthub::outputs::desksend
