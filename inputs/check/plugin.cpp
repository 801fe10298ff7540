// Command checks; see plugin.h. Plugins start through common/spawn.h like every other
// child (own process group, parent-death signal, clean signals, no inherited descriptors,
// user switch); this file adds the pipes, the pidfd and the plugin convention.
#include "inputs/check/plugin.h"

#include "common/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace reporthub::inputs::check {

namespace {

// Direct system calls: glibc 2.36's <sys/pidfd.h> declares these without C linkage.
int pidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void appendBounded(std::string& to, std::string_view what, std::size_t max) {
  if (what.empty() || to.size() >= max) return;
  if (!to.empty()) to.push_back(' ');
  to.append(what.substr(0, max - std::min(max, to.size())));
}

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Looks up `user` before the child starts (NSS may allocate, open files, talk to a daemon).
bool lookupUser(const std::string& user, Identity& id, std::string& error) {
  std::vector<char> buf(16 * 1024);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    error = "cannot look up user '" + user + "': " + std::strerror(rc);
    return false;
  }
  if (!found) {
    error = "no such user '" + user + "'";
    return false;
  }
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  int n = 32;
  id.groups.resize(static_cast<std::size_t>(n));
  while (getgrouplist(user.c_str(), id.gid, id.groups.data(), &n) < 0) {
    id.groups.resize(static_cast<std::size_t>(n));
  }
  id.groups.resize(static_cast<std::size_t>(n));
  return true;
}

}  // namespace

PluginOutput parsePluginOutput(std::string_view out) {
  PluginOutput p;
  auto nl = out.find('\n');
  std::string_view first = out.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view{} : out.substr(nl + 1);
  if (auto bar = first.find('|'); bar != std::string_view::npos) {
    appendBounded(p.perfdata, trim(first.substr(bar + 1)), kMaxPerfdata);
    first = first.substr(0, bar);
  }
  p.text = std::string(trim(first).substr(0, kMaxText));
  // Long text is not reported; perfdata in it is (Nagios 3 multi-line output).
  if (auto bar = rest.find('|'); bar != std::string_view::npos) {
    rest = rest.substr(bar + 1);
    while (!rest.empty()) {
      nl = rest.find('\n');
      appendBounded(p.perfdata, trim(rest.substr(0, nl)), kMaxPerfdata);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
  }
  return p;
}

Result pluginResult(int wait_status, std::string_view out, std::string_view err) {
  Result r;
  PluginOutput p = parsePluginOutput(out);
  if (p.text.empty()) p.text = parsePluginOutput(err).text;
  r.perfdata = std::move(p.perfdata);
  if (WIFEXITED(wait_status)) {
    const int code = WEXITSTATUS(wait_status);
    r.exit_status = code;
    if (code >= 0 && code <= 3) {
      r.state = static_cast<State>(code);
      r.text = p.text.empty() ? "(no output)" : std::move(p.text);
    } else {
      r.state = State::unknown;
      r.text = "exit status " + std::to_string(code) + (p.text.empty() ? "" : ": " + p.text);
    }
  } else if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    r.state = State::unknown;
    const char* name = strsignal(sig);
    r.text = "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")" +
             (p.text.empty() ? "" : ": " + p.text);
  } else {
    r.state = State::unknown;
    r.text = "ended with wait status " + std::to_string(wait_status);
  }
  return r;
}

std::string resolveProgram(const std::string& name, std::string& error) {
  if (name.empty()) {
    error = "empty command";
    return "";
  }
  // A path is taken as written, so exec names the precise problem (missing, not executable).
  if (name.find('/') != std::string::npos) return name;
  std::string found = findProgram(name);
  if (found.empty()) {
    const char* path = getenv("PATH");
    error =
        "'" + name + "' not found in PATH (" + (path ? path : "/usr/local/bin:/usr/bin:/bin") + ")";
  }
  return found;
}

std::unique_ptr<CommandRun> CommandRun::start(const config::CommandCheck& cmd,
                                              const std::filesystem::path& workdir,
                                              std::string& error) {
  if (cmd.argv.empty()) {
    error = "empty command";
    return nullptr;
  }
  std::vector<std::string> argv = cmd.argv;
  argv[0] = resolveProgram(cmd.argv[0], error);
  if (argv[0].empty()) return nullptr;

  SpawnOptions opts;
  opts.cwd = workdir.string();
  if (!cmd.user.empty()) {
    Identity id;
    if (!lookupUser(cmd.user, id, error)) return nullptr;
    if (geteuid() == 0) {
      opts.uid = id.uid;
      opts.gid = id.gid;
      opts.groups = std::move(id.groups);
    } else if (id.uid != geteuid()) {
      error = "cannot run as user '" + cmd.user +
              "': switching users needs root, and the check process runs as uid " +
              std::to_string(geteuid());
      return nullptr;
    }  // else: already that user, and setgroups would need root for nothing
  }

  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    error = std::string("cannot start: pipe: ") + std::strerror(errno);
    for (int fd : {out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) close(fd);
    }
    return nullptr;
  }
  opts.stdout_fd = out[1];
  opts.stderr_fd = err[1];
  const pid_t pid = spawnChild(argv, opts);
  const int spawn_errno = errno;
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(out[0]);
    close(err[0]);
    error = "cannot execute " + argv[0] +
            (opts.uid ? " as user '" + cmd.user + "'" : std::string()) + ": " +
            std::strerror(spawn_errno);
    return nullptr;
  }
  std::unique_ptr<CommandRun> run(new CommandRun);
  run->pid_ = pid;
  run->out_fd_ = out[0];
  run->err_fd_ = err[0];
  fcntl(run->out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(run->err_fd_, F_SETFL, O_NONBLOCK);
  run->pidfd_ = pidfdOpen(pid);
  if (run->pidfd_ < 0) {
    error = std::string("cannot watch the started command: pidfd_open: ") + std::strerror(errno);
    return nullptr;  // the destructor kills and reaps it
  }
  return run;
}

CommandRun::~CommandRun() {
  if (pid_ > 0 && !reaped_) {
    killGroup();
    int st;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  closeFd(out_fd_);
  closeFd(err_fd_);
  closeFd(pidfd_);
}

void CommandRun::closeFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void CommandRun::readOutput(int fd) {
  std::string& into = fd == out_fd_ ? out_ : err_;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (into.size() < kMaxCapture) {
        into.append(buf, std::min(static_cast<std::size_t>(n), kMaxCapture - into.size()));
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // End of file, or an error that makes the stream useless either way.
    closeFd(fd == out_fd_ ? out_fd_ : err_fd_);
    return;
  }
}

void CommandRun::killGroup() {
  if (pid_ <= 0 || reaped_) return;
  // The group id is the leader's pid, which cannot be reused before the leader is reaped.
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);  // in case it left its group
}

bool CommandRun::reap() {
  if (reaped_) return true;
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  reaped_ = true;
  if (r == pid_) {
    status_ = st;
  } else {
    lost_ = std::string("waitpid: ") + std::strerror(errno);
  }
  // What the plugin wrote before it exited is in the pipes now. A background process it left
  // may hold them open, so this does not wait for end of file.
  if (out_fd_ >= 0) readOutput(out_fd_);
  if (err_fd_ >= 0) readOutput(err_fd_);
  closeFd(out_fd_);
  closeFd(err_fd_);
  closeFd(pidfd_);
  return true;
}

Result CommandRun::result() const {
  if (lost_.empty()) return pluginResult(status_, out_, err_);
  Result r;
  r.state = State::unknown;
  r.text = "exit status lost (" + lost_ + ")";
  return r;
}

}  // namespace reporthub::inputs::check
