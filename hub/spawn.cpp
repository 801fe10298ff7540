// Child spawning; see spawn.h. fork+exec rather than posix_spawn because the child must set
// its parent-death signal and close every stray descriptor, which posix_spawn cannot do.
#include "hub/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace reporthub::hub {

std::string selfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

pid_t spawnChild(const std::vector<std::string>& argv, const std::vector<int>& pass) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();

  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return -1;

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
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
    if (getppid() != parent) _exit(0);  // the hub died before the signal was armed
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
      signal(sig, SIG_DFL);
    // The error pipe goes high first, then handed-over fds move to 3.. via high numbers,
    // so no dup2 overwrites a descriptor still needed.
    const int errfd = fcntl(err_pipe[1], F_DUPFD_CLOEXEC, 200);
    if (errfd < 0) fail(errno);
    err_pipe[1] = errfd;
    int moved[16];
    const std::size_t n = pass.size() < 16 ? pass.size() : 16;
    for (std::size_t i = 0; i < n; ++i) {
      moved[i] = fcntl(pass[i], F_DUPFD, 100);
      if (moved[i] < 0) fail(errno);
    }
    int next = 3;
    for (std::size_t i = 0; i < n; ++i) {
      if (dup2(moved[i], next++) < 0) fail(errno);
    }
    if (close_range(static_cast<unsigned>(next), static_cast<unsigned>(errfd) - 1, 0) != 0 ||
        close_range(static_cast<unsigned>(errfd) + 1, ~0U, 0) != 0) {
      fail(errno);
    }
    execv(args[0], args.data());
    fail(errno);
  }
  close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == sizeof child_errno) {
    // exec failed: the child exits 127 and is reaped through SIGCHLD like any other.
    errno = child_errno;
    return -1;
  }
  return pid;
}

}  // namespace reporthub::hub
