// A real SMTP server for tests: aiosmtpd (Debian's python3-aiosmtpd) on a loopback port
// chosen at run time, storing what it accepts in a Maildir, killed with its process group at
// the end. Optionally STARTTLS with a throw-away certificate, AUTH, or a handler that refuses
// some recipients and messages, for the failure paths.
#pragma once

#include "tests/support/net.h"
#include "tests/support/temp_dir.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace reporthub::test {

// A handler that refuses on purpose: RCPT to perm* with 550, to temp* with 451, and any
// message containing REJECTME with 554 at the end of DATA. Everything else is stored.
inline constexpr const char* kPickyHandlerPy = R"PY(
from aiosmtpd.handlers import Mailbox

class Picky(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('perm'):
            return '550 5.1.1 <%s>: no such user here' % address
        if address.startswith('temp'):
            return '451 4.3.0 mailbox busy, try again later'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        if b'REJECTME' in envelope.content:
            return '554 5.6.0 content refused'
        return await super().handle_DATA(server, session, envelope)
)PY";

// aiosmtpd's own SMTP class, serving with AUTH required (PLAIN/LOGIN in the clear, which is
// what a test on loopback needs) for one user and password; everything else is stored.
inline constexpr const char* kAuthServerPy = R"PY(
import asyncio, sys
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult

host, port, mail, user, password = sys.argv[1:6]

def check(server, session, envelope, mechanism, data):
    ok = data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

async def main():
    handler = Mailbox(mail)
    srv = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, authenticator=check, auth_required=True, auth_require_tls=False),
        host, int(port))
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
)PY";

class SmtpServer {
 public:
  struct Options {
    bool starttls = false;  // offer STARTTLS (and require it) with a self-signed certificate
    bool picky = false;     // use the refusing handler above
    std::string user = {};  // when set: AUTH required, with this user and `password`
    std::string password = {};
  };

  explicit SmtpServer(Options opts) : opts_(opts) {
    if (opts_.starttls) makeCertificate();
    if (opts_.picky) dir_.write("picky.py", kPickyHandlerPy);
    if (!opts_.user.empty()) dir_.write("auth_server.py", kAuthServerPy);
    start();
  }
  SmtpServer() : SmtpServer(Options{}) {}
  ~SmtpServer() { stop(); }
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // aiosmtpd's Maildir: what it accepted is in new/.
  std::filesystem::path maildir() const { return mail_; }
  std::filesystem::path certificate() const { return dir_ / "cert.pem"; }
  std::filesystem::path log() const { return dir_ / "server.log"; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // How many messages it accepted, cheaply (no path objects): polled while thousands arrive.
  std::size_t received() const { return countFiles(mail_ / "new"); }

  // Messages accepted so far (files in the server's Maildir new/).
  std::vector<std::filesystem::path> messages() const {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(mail_ / "new", ec))
      out.push_back(e.path());
    return out;
  }

  // Starts the server (again, on the same port after stop()); waits until it accepts
  // connections. Throws if it does not within 20 s.
  void start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (port_ == 0 || attempt > 0) port_ = freePort();
      spawn();
      if (waitAccepting()) return;
      stop();  // the port was taken between picking and binding it: pick another
    }
    throw std::runtime_error("aiosmtpd did not start; see " + log().string());
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  void makeCertificate() {
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -days 1 -subj /CN=127.0.0.1 -addext "
        "subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
        (dir_ / "key.pem").string() + " -out " + certificate().string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a cert");
  }

  void spawn() {
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     "-m",
                                     "aiosmtpd",
                                     "-n",
                                     "-l",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "-c",
                                     opts_.picky ? "picky.Picky" : "aiosmtpd.handlers.Mailbox"};
    if (!opts_.user.empty()) {
      argv = {"/usr/bin/python3", (dir_ / "auth_server.py").string(),
              "127.0.0.1",        std::to_string(port_),
              mail_.string(),     opts_.user,
              opts_.password};
    }
    if (opts_.starttls) {
      for (const std::string& a : {std::string("--tlscert"), certificate().string(),
                                   std::string("--tlskey"), (dir_ / "key.pem").string()})
        argv.push_back(a);
    }
    if (opts_.user.empty()) argv.push_back(mail_.string());
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    const std::string pythonpath = "PYTHONPATH=" + dir_.path().string();
    const int log_fd = open(log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed test run leaves no server behind
      putenv(const_cast<char*>(pythonpath.c_str()));
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
      const bool ok = tcpAccepting(port_);
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  Options opts_;
  TempDir dir_;
  std::filesystem::path mail_ = dir_ / "mail";
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace reporthub::test
