// Built-in checks; see builtin.h. Texts follow the plugins' style so a built-in and a plugin
// read alike in the operator log, and each sets perfdata in the plugin format.
#include "inputs/check/builtin.h"

#include "common/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

namespace reporthub::inputs::check {

namespace {

using Clock = std::chrono::steady_clock;

Result make(State s, std::string text, std::string perfdata = {}) {
  Result r;
  r.state = s;
  r.text = std::move(text);
  r.perfdata = std::move(perfdata);
  return r;
}

std::string errnoText(int e) {
  return std::strerror(e);
}

// The first line of a small file, without its newline; "" if unreadable.
std::string firstLine(const std::filesystem::path& p) {
  const int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[512];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return {};
  std::string s(buf, static_cast<std::size_t>(n));
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// argv[0] of a process, as its basename.
std::string argv0Base(const std::filesystem::path& cmdline) {
  std::string s = firstLine(cmdline);  // argv is NUL-separated: take up to the first NUL
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  if (auto slash = s.rfind('/'); slash != std::string::npos) s.erase(0, slash + 1);
  return s;
}

std::string limit(const std::optional<Duration>& d) {
  return d ? std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*d).count()) : "";
}
std::string limit(const std::optional<std::uint64_t>& n) {
  return n ? std::to_string(*n) : "";
}

}  // namespace

std::string humanBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[u]);
}

std::string humanAge(Duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 120) return std::to_string(s) + "s";
  if (s < 120 * 60) return std::to_string(s / 60) + "m";
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

Result diskProbe(const config::DiskCheck& c) {
  struct statvfs v {};
  if (statvfs(c.path.c_str(), &v) != 0) {
    return make(State::unknown, "statvfs " + c.path.string() + ": " + errnoText(errno));
  }
  const double used = static_cast<double>(v.f_blocks - v.f_bfree);
  const double usable = used + static_cast<double>(v.f_bavail);
  if (usable <= 0) {
    return make(State::ok, "no blocks on " + c.path.string() + " (a pseudo filesystem)");
  }
  // Rounded up, as df does: 95.1% in use is not yet "95%" to anyone watching a limit.
  const double pct = std::ceil(used * 100.0 / usable);
  const State s = pct >= c.crit ? State::critical : pct >= c.warn ? State::warning : State::ok;
  const double frsize = static_cast<double>(v.f_frsize);
  return make(s,
              fmt::format("{:.0f}% used on {} ({} of {} free)", pct, c.path.string(),
                          humanBytes(static_cast<double>(v.f_bavail) * frsize),
                          humanBytes(static_cast<double>(v.f_blocks) * frsize)),
              fmt::format("used={:.0f}%;{:g};{:g};0;100", pct, c.warn, c.crit));
}

Result fileProbe(const config::FileCheck& c, WallTime now) {
  struct stat st {};
  if (stat(c.path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return make(State::critical, c.path.string() + " does not exist");
    }
    return make(State::unknown, "stat " + c.path.string() + ": " + errnoText(errno));
  }
  const WallTime mtime{std::chrono::duration_cast<WallTime::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec))};
  const auto age =
      std::max(Duration(0), std::chrono::duration_cast<Duration>(now - mtime));  // future: 0
  const auto size = static_cast<std::uint64_t>(st.st_size);

  State s = State::ok;
  std::string why;
  auto worse = [&](State to, std::string reason) {
    if (to > s) s = to;
    why += (why.empty() ? "" : ", ") + reason;
  };
  if (c.crit_age && age > *c.crit_age) {
    worse(State::critical, "older than " + formatDuration(*c.crit_age));
  } else if (c.warn_age && age > *c.warn_age) {
    worse(State::warning, "older than " + formatDuration(*c.warn_age));
  }
  if (c.crit_size && size > *c.crit_size) {
    worse(State::critical, "larger than " + humanBytes(static_cast<double>(*c.crit_size)));
  } else if (c.warn_size && size > *c.warn_size) {
    worse(State::warning, "larger than " + humanBytes(static_cast<double>(*c.warn_size)));
  }
  std::string text = fmt::format("{}: {}, modified {} ago", c.path.string(),
                                 humanBytes(static_cast<double>(size)), humanAge(age));
  if (!why.empty()) text += " (" + why + ")";
  return make(
      s, std::move(text),
      fmt::format("age={}s;{};{};0 size={}B;{};{};0",
                  std::chrono::duration_cast<std::chrono::seconds>(age).count(), limit(c.warn_age),
                  limit(c.crit_age), size, limit(c.warn_size), limit(c.crit_size)));
}

Result processProbe(const config::ProcessCheck& c, const std::filesystem::path& proc) {
  if (!c.pidfile.empty()) {
    std::string text;
    try {
      text = readFileFrom(c.pidfile);
    } catch (const std::system_error& e) {
      if (e.code().value() == ENOENT) {
        return make(State::critical, "pid file " + c.pidfile.string() + " does not exist");
      }
      return make(State::unknown, e.what());
    }
    char* end = nullptr;
    const long pid = std::strtol(text.c_str(), &end, 10);
    if (pid <= 0 || end == text.c_str() ||
        text.find_first_not_of(" \t\r\n", end - text.c_str()) != std::string::npos) {
      return make(State::unknown, "pid file " + c.pidfile.string() + " holds no pid");
    }
    // A zombie has exited already; only its parent has not noticed.
    const std::string stat = firstLine(proc / std::to_string(pid) / "stat");
    const auto paren = stat.rfind(')');
    const bool alive = !stat.empty() && paren != std::string::npos && paren + 2 < stat.size() &&
                       stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
    if (!alive) {
      return make(State::critical,
                  fmt::format("pid {} from {} is not running", pid, c.pidfile.string()));
    }
    return make(State::ok, fmt::format("pid {} from {} is running", pid, c.pidfile.string()));
  }

  std::error_code ec;
  int count = 0;
  for (std::filesystem::directory_iterator it(proc, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // A process can end between the listing and the reads: it then simply does not match.
    if (firstLine(it->path() / "comm") == c.name || argv0Base(it->path() / "cmdline") == c.name) {
      ++count;
    }
  }
  if (ec) return make(State::unknown, "cannot list " + proc.string() + ": " + ec.message());
  const std::string perf = fmt::format("procs={};;;0", count);
  const std::string what =
      fmt::format("{} process{} named '{}'", count, count == 1 ? "" : "es", c.name);
  if (count < c.min) {
    return make(State::critical, fmt::format("{}, at least {} expected", what, c.min), perf);
  }
  return make(State::ok, what, perf);
}

Result tcpProbe(const config::TcpCheck& c, Duration timeout) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + timeout;
  const std::string where = c.host + ":" + std::to_string(c.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = getaddrinfo(c.host.c_str(), std::to_string(c.port).c_str(), &hints, &list);
      rc != 0) {
    return make(State::critical, "cannot resolve " + c.host + ": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  bool timed_out = false;
  for (addrinfo* ai = list; ai && !timed_out; ai = ai->ai_next) {
    const int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = "socket: " + errnoText(errno);
      continue;
    }
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int n;
        do {
          const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
          n = poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
        } while (n < 0 && errno == EINTR);
        if (n == 0) {
          timed_out = true;
        } else {
          socklen_t len = sizeof err;
          if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    close(fd);
    if (timed_out) break;
    if (err == 0) {
      freeaddrinfo(list);
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      return make(State::ok, fmt::format("connected to {} in {:.1f}ms", where, secs * 1e3),
                  fmt::format("time={:.6f}s;;;0;{:g}", secs,
                              std::chrono::duration<double>(timeout).count()));
    }
    last_error = errnoText(err);
  }
  freeaddrinfo(list);
  if (timed_out) {
    return make(State::critical,
                "no connection to " + where + " within " + formatDuration(timeout));
  }
  return make(State::critical, "cannot connect to " + where + ": " + last_error);
}

Result queueProbe(const config::QueueCheck& c) {
  DIR* d = opendir(c.path.c_str());
  if (!d)
    return make(State::unknown,
                "cannot read directory " + c.path.string() + ": " + errnoText(errno));
  std::uint64_t n = 0;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  const int e = errno;
  closedir(d);
  if (e != 0) {
    return make(State::unknown, "cannot read directory " + c.path.string() + ": " + errnoText(e));
  }
  // Above the limit, not at it: `warn: 0` then means "any entry is a problem" (a dead-letter
  // directory), which is worth saying; "at 0" would always warn.
  const State s = n > c.crit ? State::critical : n > c.warn ? State::warning : State::ok;
  return make(s, fmt::format("{} entr{} in {}", n, n == 1 ? "y" : "ies", c.path.string()),
              fmt::format("entries={};{};{};0", n, c.warn, c.crit));
}

}  // namespace reporthub::inputs::check
