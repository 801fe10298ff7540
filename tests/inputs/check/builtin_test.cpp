// Tests for inputs/check/builtin.cpp: each built-in check against real files, directories,
// a fake /proc tree, this process's own pid and loopback sockets.
#include "inputs/check/builtin.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

using namespace reporthub;
using namespace reporthub::inputs::check;
using namespace std::chrono_literals;
namespace config = reporthub::config;

namespace {

// A loopback TCP socket on a port the kernel chose; listening or just bound.
struct Socket {
  int fd = -1;
  int port = 0;
  explicit Socket(bool listening) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    if (listening) REQUIRE(listen(fd, 4) == 0);
  }
  ~Socket() { close(fd); }
};

void setMtime(const std::filesystem::path& p, WallTime t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
  ts[0].tv_nsec = ts[1].tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
  REQUIRE(utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

}  // namespace

TEST_CASE("disk check: used percent of the filesystem against warn and crit", "[check]") {
  test::TempDir dir;
  auto r = diskProbe({dir.path(), 100, 100});
  REQUIRE(r.state == State::ok);  // nothing is 100% full here, or the test machine is in trouble
  // "N% used on PATH (X of Y free)" and perfdata in the plugin format.
  const auto pct = std::stoi(r.text);
  CHECK(pct >= 0);
  CHECK(pct < 100);
  CHECK(r.text.find("% used on " + dir.path().string() + " (") != std::string::npos);
  CHECK(r.perfdata == "used=" + std::to_string(pct) + "%;100;100;0;100");

  CHECK(diskProbe({dir.path(), 0, 100}).state == State::warning);
  CHECK(diskProbe({dir.path(), 0, 0}).state == State::critical);
  // A limit at or below the usage warns (5 points of room: other programs write to this disk).
  CHECK(diskProbe({dir.path(), std::max(0.0, pct - 5.0), 100}).state == State::warning);
  r = diskProbe({dir / "missing", 85, 95});
  CHECK(r.state == State::unknown);
  CHECK(r.text == "statvfs " + (dir / "missing").string() + ": No such file or directory");
}

TEST_CASE("file check: missing is critical, then age and size limits", "[check]") {
  test::TempDir dir;
  const auto file = dir / "heartbeat";
  const auto now = std::chrono::system_clock::now();
  config::FileCheck c{file, 5min, 1h, 100, 1000};

  auto r = fileProbe(c, now);
  CHECK(r.state == State::critical);
  CHECK(r.text == file.string() + " does not exist");

  dir.write("heartbeat", std::string(50, 'x'));
  setMtime(file, now - 1min);
  r = fileProbe(c, now);
  CHECK(r.state == State::ok);
  CHECK(r.text == file.string() + ": 50 B, modified 60s ago");
  CHECK(r.perfdata == "age=60s;300;3600;0 size=50B;100;1000;0");

  setMtime(file, now - 10min);
  r = fileProbe(c, now);
  CHECK(r.state == State::warning);
  CHECK(r.text == file.string() + ": 50 B, modified 10m ago (older than 5m)");

  setMtime(file, now - 2h);
  CHECK(fileProbe(c, now).state == State::critical);

  dir.write("heartbeat", std::string(500, 'x'));  // fresh, but too large for warn
  r = fileProbe(c, std::chrono::system_clock::now());
  CHECK(r.state == State::warning);
  CHECK(r.text.find("(larger than 100 B)") != std::string::npos);

  // The worse of the two wins, and both reasons are given.
  dir.write("heartbeat", std::string(2000, 'x'));
  setMtime(file, now - 10min);
  r = fileProbe(c, now);
  CHECK(r.state == State::critical);
  CHECK(r.text.find("(older than 5m, larger than 1000 B)") != std::string::npos);

  // Without limits only existence counts.
  CHECK(fileProbe({file, {}, {}, {}, {}}, now + 1000h).state == State::ok);
}

TEST_CASE("process check by pid file", "[check]") {
  test::TempDir dir;
  const auto pidfile = dir / "app.pid";
  config::ProcessCheck c;
  c.pidfile = pidfile;

  auto r = processProbe(c);
  CHECK(r.state == State::critical);
  CHECK(r.text == "pid file " + pidfile.string() + " does not exist");

  dir.write("app.pid", std::to_string(getpid()) + "\n");
  r = processProbe(c);
  CHECK(r.state == State::ok);
  CHECK(r.text == "pid " + std::to_string(getpid()) + " from " + pidfile.string() + " is running");

  // A pid that has exited and been reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  dir.write("app.pid", std::to_string(child));
  CHECK(processProbe(c).state == State::critical);

  dir.write("app.pid", "garbage\n");
  r = processProbe(c);
  CHECK(r.state == State::unknown);
  CHECK(r.text == "pid file " + pidfile.string() + " holds no pid");
}

TEST_CASE("process check by name counts comm and argv[0] matches", "[check]") {
  // A fake procfs: the check reads only PID/comm and PID/cmdline.
  test::TempDir proc;
  proc.write("101/comm", "nginx\n");
  proc.write("101/cmdline", std::string("nginx: master process\0-g\0", 26));
  proc.write("102/comm", "nginx\n");
  proc.write("103/comm", "python3\n");  // argv[0] matches by basename
  proc.write("103/cmdline", std::string("/usr/sbin/nginx\0", 16));
  proc.write("104/comm", "bash\n");
  proc.write("self/comm", "nginx\n");  // not a pid: ignored

  config::ProcessCheck c;
  c.name = "nginx";
  c.min = 3;
  auto r = processProbe(c, proc.path());
  CHECK(r.state == State::ok);
  CHECK(r.text == "3 processes named 'nginx'");
  CHECK(r.perfdata == "procs=3;;;0");

  c.min = 4;
  r = processProbe(c, proc.path());
  CHECK(r.state == State::critical);
  CHECK(r.text == "3 processes named 'nginx', at least 4 expected");

  c.name = "postgres";
  c.min = 1;
  CHECK(processProbe(c, proc.path()).text == "0 processes named 'postgres', at least 1 expected");

  // And on the real /proc: this test program is running.
  c.name = std::filesystem::read_symlink("/proc/self/exe").filename().string();
  CHECK(processProbe(c).state == State::ok);
}

TEST_CASE("tcp check: connect within the timeout, failure is critical", "[check]") {
  Socket listening(true);
  auto r = tcpProbe({"127.0.0.1", listening.port}, 2s);
  CHECK(r.state == State::ok);
  CHECK(r.text.find("connected to 127.0.0.1:" + std::to_string(listening.port) + " in ") == 0);
  CHECK(r.perfdata.find("time=") == 0);

  // Bound but not listening: refused.
  Socket bound(false);
  r = tcpProbe({"127.0.0.1", bound.port}, 2s);
  CHECK(r.state == State::critical);
  CHECK(r.text ==
        "cannot connect to 127.0.0.1:" + std::to_string(bound.port) + ": Connection refused");

  r = tcpProbe({"no-such-host.invalid", 80}, 2s);
  CHECK(r.state == State::critical);
  CHECK(r.text.find("cannot resolve no-such-host.invalid: ") == 0);
}

TEST_CASE("queue check: entries in a directory against warn and crit", "[check]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "q");
  config::QueueCheck c{dir / "q", 2, 4};
  auto r = queueProbe(c);
  CHECK(r.state == State::ok);
  CHECK(r.text == "0 entries in " + (dir / "q").string());
  CHECK(r.perfdata == "entries=0;2;4;0");

  dir.write("q/a", "");
  CHECK(queueProbe(c).text == "1 entry in " + (dir / "q").string());
  dir.write("q/.hidden", "");               // every entry counts, a subdirectory too
  CHECK(queueProbe(c).state == State::ok);  // at the limit is not above it
  std::filesystem::create_directories(dir / "q/sub");
  CHECK(queueProbe(c).state == State::warning);
  dir.write("q/d", "");
  CHECK(queueProbe(c).state == State::warning);
  dir.write("q/e", "");
  r = queueProbe(c);
  CHECK(r.state == State::critical);
  CHECK(r.text.find("5 entries") == 0);

  // warn: 0 means any entry is a problem.
  std::filesystem::create_directories(dir / "dead");
  CHECK(queueProbe({dir / "dead", 0, 10}).state == State::ok);
  dir.write("dead/letter", "");
  CHECK(queueProbe({dir / "dead", 0, 10}).state == State::warning);

  r = queueProbe({dir / "none", 1, 2});
  CHECK(r.state == State::unknown);
  CHECK(r.text.find("cannot read directory ") == 0);
}

TEST_CASE("human sizes and ages", "[check]") {
  CHECK(humanBytes(512) == "512 B");
  CHECK(humanBytes(1536) == "1.5 KiB");
  CHECK(humanBytes(3.5 * 1024 * 1024 * 1024) == "3.5 GiB");
  CHECK(humanAge(45s) == "45s");
  CHECK(humanAge(119s) == "119s");
  CHECK(humanAge(10min) == "10m");
  CHECK(humanAge(3h) == "3h");
  CHECK(humanAge(72h) == "3d");
}
