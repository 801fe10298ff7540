// Command checks; see plugin.h. vfork+exec rather than posix_spawn, because the child must
// switch user and set its parent-death signal, which posix_spawn cannot do; and vfork rather
// than fork, because copying the check process's page tables for every run was the largest
// part of its CPU time (see bench/checks.cpp).
#include "inputs/check/plugin.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

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

// The steps of the child before exec, named in the error it sends back.
enum Step : int { kSetpgid, kPdeathsig, kDup, kGroups, kSetgid, kSetuid, kCloexec, kExec };
constexpr const char* kStepNames[] = {"setpgid", "prctl",  "dup2",        "setgroups",
                                      "setgid",  "setuid", "close_range", "exec"};

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Looks up `user` before vfork (NSS may allocate, open files, even talk to a daemon).
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

// Everything the child needs, prepared before vfork. The child shares the parent's memory
// until exec, so it only reads this and writes the two fail fields.
struct ChildPlan {
  const char* program = nullptr;
  char** argv = nullptr;
  int devnull = -1, out = -1, err = -1;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  std::size_t ngroups = 0;
  pid_t parent = 0;
  volatile int fail_step = -1;  // set by the child when it cannot reach exec
  volatile int fail_errno = 0;
};

// The child between vfork and exec. Only system calls: the parent's other threads keep
// running, and its heap and locks are shared. The uid/gid calls are made directly, because
// glibc's wrappers would try to change the credentials of every thread of the parent too.
[[noreturn]] void execChild(ChildPlan& p) {
  auto fail = [&p](int step) {
    p.fail_errno = errno;
    p.fail_step = step;
    _exit(127);
  };
  // Its own group, so a timeout kills whatever the plugin started too.
  if (setpgid(0, 0) != 0) fail(kSetpgid);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kPdeathsig);
  if (getppid() != p.parent) _exit(127);  // the check process died before the signal was armed
  for (int sig = 1; sig < NSIG; ++sig)
    signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (dup2(p.devnull, 0) < 0 || dup2(p.out, 1) < 0 || dup2(p.err, 2) < 0) fail(kDup);
  if (p.switch_user) {
    if (syscall(SYS_setgroups, p.ngroups, p.groups) != 0) fail(kGroups);
    if (syscall(SYS_setgid, p.gid) != 0) fail(kSetgid);
    if (syscall(SYS_setuid, p.uid) != 0) fail(kSetuid);
  }
  // Nothing of the check process (its hub socket, other plugins' pipes) reaches the plugin.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(kCloexec);
  execve(p.program, p.argv, environ);
  fail(kExec);
  _exit(127);
}

// vfork in a function of its own, so no local of the caller lives across it (the compiler
// cannot keep such a variable in a register the child may clobber).
[[gnu::noinline]] pid_t vforkExec(ChildPlan& plan) {
  // No signal handler may run in the child while it shares the parent's memory: all signals
  // are blocked across vfork; the child resets the handlers before it unblocks them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = vfork();
  if (pid == 0) execChild(plan);  // never returns
  const int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return pid;
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
  if (name.find('/') != std::string::npos) return name;
  const char* env = getenv("PATH");
  const std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty()) continue;  // an empty entry means the working directory: not trusted
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  error = "'" + name + "' not found in PATH (" + path + ")";
  return "";
}

std::unique_ptr<CommandRun> CommandRun::start(const config::CommandCheck& cmd, std::string& error) {
  if (cmd.argv.empty()) {
    error = "empty command";
    return nullptr;
  }
  const std::string program = resolveProgram(cmd.argv[0], error);
  if (program.empty()) return nullptr;

  Identity id;
  if (!cmd.user.empty()) {
    if (!lookupUser(cmd.user, id, error)) return nullptr;
    if (geteuid() != 0 && id.uid != geteuid()) {
      error = "cannot run as user '" + cmd.user +
              "': switching users needs root, and the check process runs as uid " +
              std::to_string(geteuid());
      return nullptr;
    }
  }
  // Not root but already that user: nothing to switch (setgroups would need root).
  const bool switch_user = !cmd.user.empty() && geteuid() == 0;

  std::vector<char*> args;
  for (const auto& a : cmd.argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto closeAll = [&] {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], devnull}) {
      if (fd >= 0) close(fd);
    }
  };
  if (devnull < 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    error = std::string("cannot start: pipe: ") + std::strerror(errno);
    closeAll();
    return nullptr;
  }
  ChildPlan plan;
  plan.program = program.c_str();
  plan.argv = args.data();
  plan.devnull = devnull;
  plan.out = out_pipe[1];
  plan.err = err_pipe[1];
  plan.switch_user = switch_user;
  plan.uid = id.uid;
  plan.gid = id.gid;
  plan.groups = id.groups.data();
  plan.ngroups = id.groups.size();
  plan.parent = getpid();
  const pid_t pid = vforkExec(plan);
  if (pid < 0) {
    error = std::string("cannot start: vfork: ") + std::strerror(errno);
    closeAll();
    return nullptr;
  }
  // vfork returns here once the child has exec'd or exited: its failure, if any, is in plan.
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(devnull);

  std::unique_ptr<CommandRun> run(new CommandRun);
  run->pid_ = pid;
  run->out_fd_ = out_pipe[0];
  run->err_fd_ = err_pipe[0];
  fcntl(run->out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(run->err_fd_, F_SETFL, O_NONBLOCK);
  if (plan.fail_step >= 0) {
    const int step = plan.fail_step <= kExec ? plan.fail_step : kExec;
    const int e = plan.fail_errno;
    if (switch_user && step >= kGroups && step <= kSetuid) {
      error =
          "cannot run as user '" + cmd.user + "': " + kStepNames[step] + ": " + std::strerror(e);
    } else if (step == kExec) {
      error = "cannot execute " + program + ": " + std::strerror(e);
    } else {
      error = std::string("cannot start ") + program + ": " + kStepNames[step] + ": " +
              std::strerror(e);
    }
    return nullptr;  // the destructor reaps the child, which has exited
  }
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
