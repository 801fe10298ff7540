// A real syslog server for tests and benches: a private rsyslogd (Debian's rsyslog) on a
// loopback port chosen at run time, with its own config, work directory and pid file, no
// system inputs (no imuxsock, no imklog), taking RFC 6587 TCP on imtcp and writing every
// message it parsed to one file through a template. Killed with its process group at the
// end, so no test leaves one behind. Header-only and without Catch, so benches use it too.
#pragma once

#include "tests/support/net.h"
#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace reporthub::test {

// One line per message with the fields rsyslog parsed, space-separated, the MSG last.
inline constexpr const char* kSyslogFieldsTemplate =
    "%hostname% %app-name% %procid% %msgid% %syslogfacility-text% %syslogseverity-text% "
    "%timereported:::date-rfc3339% %structured-data% %msg%\\n";

class SyslogServer {
 public:
  // `tmpl` is an rsyslog string template for each line of the output file.
  explicit SyslogServer(std::string tmpl = kSyslogFieldsTemplate) : tmpl_(std::move(tmpl)) {
    std::filesystem::create_directories(dir_ / "work");
    start();
  }
  ~SyslogServer() { kill(); }
  SyslogServer(const SyslogServer&) = delete;
  SyslogServer& operator=(const SyslogServer&) = delete;

  int port() const { return port_; }
  std::string target() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::filesystem::path output() const { return dir_ / "messages.log"; }
  std::filesystem::path log() const { return dir_ / "rsyslogd.log"; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Starts rsyslogd (again on the same port after stop()); waits until it accepts
  // connections. Throws if it does not within 20 s.
  void start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (port_ == 0 || (attempt > 0 && !keep_port_)) port_ = freePort();
      writeConfig();
      spawn();
      if (waitAccepting()) return;
      kill();  // the port was taken between picking and binding it: pick another
    }
    throw std::runtime_error("rsyslogd did not start; see " + log().string());
  }

  // SIGTERM, and waits for rsyslogd to finish writing and exit; the port stays this
  // server's for the next start().
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    keep_port_ = true;
  }

  // SIGKILL to its process group.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

  // The lines written so far (the last one only if complete).
  std::vector<std::string> lines() const {
    std::ifstream in(output(), std::ios::binary);
    std::vector<std::string> out;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
      out.push_back(text.substr(start, nl - start));
    return out;
  }

 private:
  void writeConfig() {
    // A ruleset of its own keeps rsyslogd's internal messages out of the output file.
    std::ofstream(dir_ / "rsyslog.conf")
        << "global(workDirectory=\"" << (dir_ / "work").string() << "\")\n"
        << "module(load=\"imtcp\")\n"
        << "template(name=\"fields\" type=\"string\" string=\"" << tmpl_ << "\")\n"
        << "ruleset(name=\"remote\") {\n"
        << "  action(type=\"omfile\" file=\"" << output().string() << "\" template=\"fields\")\n"
        << "}\n"
        << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << port_
        << "\" ruleset=\"remote\")\n";
  }

  void spawn() {
    std::vector<std::string> argv = {"/usr/sbin/rsyslogd",
                                     "-n",
                                     "-C",
                                     "-f",
                                     (dir_ / "rsyslog.conf").string(),
                                     "-i",
                                     (dir_ / "rsyslogd.pid").string()};
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    const int log_fd = open(log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed test run leaves no server behind
      const int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execv(args[0], args.data());
      _exit(127);
    }
    close(log_fd);
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }

  bool waitAccepting() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (tcpAccepting(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string tmpl_;
  TempDir dir_;
  int port_ = 0;
  bool keep_port_ = false;
  pid_t pid_ = -1;
};

}  // namespace reporthub::test
