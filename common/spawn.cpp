// Child spawning; see spawn.h. fork+exec rather than posix_spawn because the child must set
// its parent-death signal and close every stray descriptor, which posix_spawn cannot do.
#include "common/spawn.h"

#include "common/file_io.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace reporthub {

std::string selfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string findProgram(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string describeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return "signal " + std::to_string(WTERMSIG(st)) + " (" + sigdescr_np(WTERMSIG(st)) + ")";
  }
  return "status " + std::to_string(st);
}

pid_t spawnChild(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const int null_fd = opts.stdin_fd < 0 ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;

  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    if (null_fd >= 0) close(null_fd);
    return -1;
  }

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    if (null_fd >= 0) close(null_fd);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    auto fail = [&](int e) {
      (void)!write(err_pipe[1], &e, sizeof e);
      _exit(127);
    };
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
    if (getppid() != parent) _exit(0);  // the parent died before the signal was armed
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
      signal(sig, SIG_DFL);
    // Every descriptor that moves goes high first, then to its place, so no dup2
    // overwrites one still needed.
    const int errfd = fcntl(err_pipe[1], F_DUPFD_CLOEXEC, 200);
    if (errfd < 0) fail(errno);
    err_pipe[1] = errfd;
    const int stdio[3] = {opts.stdin_fd >= 0 ? opts.stdin_fd : null_fd, opts.stdout_fd,
                          opts.stderr_fd};
    int stdio_moved[3] = {-1, -1, -1};
    for (int i = 0; i < 3; ++i) {
      if (stdio[i] >= 0 && (stdio_moved[i] = fcntl(stdio[i], F_DUPFD, 100)) < 0) fail(errno);
    }
    int moved[16];
    const std::size_t n = opts.pass.size() < 16 ? opts.pass.size() : 16;
    for (std::size_t i = 0; i < n; ++i) {
      moved[i] = fcntl(opts.pass[i], F_DUPFD, 100);
      if (moved[i] < 0) fail(errno);
    }
    for (int i = 0; i < 3; ++i) {
      if (stdio_moved[i] >= 0 && dup2(stdio_moved[i], i) < 0) fail(errno);
    }
    int next = 3;
    for (std::size_t i = 0; i < n; ++i) {
      if (dup2(moved[i], next++) < 0) fail(errno);
    }
    if (close_range(static_cast<unsigned>(next), static_cast<unsigned>(errfd) - 1, 0) != 0 ||
        close_range(static_cast<unsigned>(errfd) + 1, ~0U, 0) != 0) {
      fail(errno);
    }
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) fail(errno);
    if (opts.uid) {
      // Groups first: once the uid is dropped, the gid can no longer be changed.
      if (setgroups(opts.groups.size(), opts.groups.data()) != 0) fail(errno);
      if (opts.gid && setgid(*opts.gid) != 0) fail(errno);
      if (setuid(*opts.uid) != 0) fail(errno);
    }
    execv(args[0], args.data());
    fail(errno);
  }
  close(err_pipe[1]);
  if (null_fd >= 0) close(null_fd);
  int child_errno = 0;
  ssize_t r;
  do {
    r = read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (r < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (r == sizeof child_errno) {
    // exec failed and the child is exiting 127: reaped here, so the caller sees only -1.
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = child_errno;
    return -1;
  }
  return pid;
}

CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input,
                         Duration timeout, const std::string& cwd, std::size_t max_output) {
  CommandResult res;
  if (argv.empty()) {
    res.error = "empty command";
    return res;
  }
  std::vector<std::string> args = argv;
  args[0] = findProgram(argv[0]);
  if (args[0].empty()) {
    res.error = "'" + argv[0] + "' not found or not executable";
    return res;
  }
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) {
    res.error = std::string("pipe: ") + strerror(errno);
    return res;
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    res.error = std::string("pipe: ") + strerror(errno);
    close(in[0]);
    close(in[1]);
    return res;
  }
  SpawnOptions opts;
  opts.stdin_fd = in[0];
  opts.stdout_fd = out[1];
  opts.stderr_fd = out[1];
  opts.cwd = cwd;
  const pid_t pid = spawnChild(args, opts);
  const int spawn_errno = errno;
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    res.error = "cannot start '" + argv[0] + "': " + strerror(spawn_errno);
    return res;
  }
  res.started = true;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  // A command that exits without reading its input must not kill us with SIGPIPE.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);

  std::size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out[0];
  bool exited = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited || out_fd >= 0) {
    const auto left =
        std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(-pid, SIGKILL);
      res.timed_out = true;
      break;
    }
    pollfd fds[3] = {{in_fd, POLLOUT, 0}, {out_fd, POLLIN, 0}, {exited ? -1 : pidfd, POLLIN, 0}};
    if (poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if (in_fd >= 0 && fds[0].revents) {
      const ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE: gone
      if (written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    if (out_fd >= 0 && fds[1].revents) {
      char buf[4096];
      const ssize_t r = read(out_fd, buf, sizeof buf);
      if (r > 0) {
        res.output.append(
            buf, std::min<std::size_t>(static_cast<std::size_t>(r),
                                       max_output - std::min(max_output, res.output.size())));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(out_fd);
        out_fd = -1;
      }
    }
    if (pidfd < 0 || (fds[2].revents & POLLIN)) exited = true;
    // A background grandchild holding the pipe open must not hold us past the exit.
    if (exited && out_fd >= 0 && !(fds[1].revents & POLLIN)) break;
  }
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  if (pidfd >= 0) close(pidfd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.wait_status = status;
  // A write to the closed pipe left a SIGPIPE pending: take it before unblocking.
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE) && !sigismember(&old_set, SIGPIPE)) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return res;
}

}  // namespace reporthub
