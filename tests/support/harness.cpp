// Integration test support; see harness.h.
#include "tests/support/harness.h"

#include "common/child_link.h"
#include "tests/support/reports.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace reporthub::test {

namespace {

pid_t forkExec(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    // A test run that is killed (a timeout) must not leave its hubs behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int decode(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

}  // namespace

RunResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  TempDir tmp;
  const auto out = tmp / "out", err = tmp / "err";
  RunResult r;
  {
    Process p(argv, out, err);
    r.code = p.wait(timeout);
    if (r.code == -1) p.killAll();
  }
  r.out = readFile(out);
  r.err = readFile(err);
  return r;
}

Process::Process(const std::vector<std::string>& argv, const std::filesystem::path& out_file,
                 const std::filesystem::path& err_file) {
  int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = forkExec(argv, out, err);
  close(out);
  close(err);
}

Process::~Process() {
  killAll();
}

bool Process::running() {
  if (reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::wait(std::chrono::milliseconds timeout) {
  if (!waitFor([&] { return !running(); }, timeout, 5ms)) return -1;
  return decode(status_);
}

void Process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

void Process::killAll() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(interval);
  }
}

std::vector<std::string> readLines(const std::filesystem::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

void writeFile(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

std::uint64_t processStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat) || stat.rfind(')') == std::string::npos) return 0;
  // Fields after the command name (which may hold spaces) start at field 3.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 21; ++i)
    rest >> field;
  std::uint64_t start = 0;
  rest >> start;
  return start;
}

std::string reporthubBin() {
  return REPORTHUB_BIN;
}
std::string hubctlBin() {
  return HUBCTL_BIN;
}

Hub::Hub(const std::string& body, const std::string& node) {
  writeFile(config(), "node: " + node + "\npaths: { state_dir: var, run_dir: run }\n" + body);
}

Hub::~Hub() {
  if (proc_ && proc_->running()) {
    // Children die with the hub (parent-death signal), so killing the hub's group and the
    // hub suffices; their own groups are killed by the kernel's SIGKILL to them.
    proc_->killAll();
  }
}

void Hub::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{reporthubBin(), "run", "-c", config().string()}, dir_ / "hub.out",
      dir_ / "hub.err");
  const bool up = waitFor(
      [&] {
        if (!proc_->running()) return true;
        return hubctl({"status", "--json"}, 5s).code == 0;
      },
      20s, 20ms);
  INFO("hub stderr: " << readFile(dir_ / "hub.err"));
  REQUIRE(up);
  REQUIRE(proc_->running());
}

RunResult Hub::hubctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{hubctlBin(), "-c", config().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

nlohmann::json Hub::status() {
  auto r = hubctl({"status", "--json"});
  if (r.code != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

nlohmann::json Hub::processStatus(const std::string& id) {
  auto st = status();
  if (!st.is_object()) return nullptr;
  for (const auto& p : st["processes"]) {
    if (p["id"] == id) return p;
  }
  return nullptr;
}

bool Hub::waitLines(std::size_t n, std::chrono::milliseconds timeout) {
  return waitFor([&] { return readLines(operatorLog()).size() >= n; }, timeout);
}

int Hub::stop(std::chrono::milliseconds timeout) {
  hubctl({"dmstop", "--wait"}, timeout);
  return proc_->wait(timeout);
}

std::vector<std::string> submitReports(const Hub& hub, int n, const std::string& category,
                                       const std::string& name, int per_second) {
  zmq::context_t ctx(1);
  ChildLink link(ctx, {hub.childEndpoint(), "test", name, wire::Kind::input});
  std::vector<std::string> ids;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    while (per_second > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() *
                   per_second <
               i) {
      link.pump(1ms);  // pacing the load, not waiting for a condition
    }
    const Report r = newReport("alpha", "test", category, name + " " + std::to_string(i));
    REQUIRE(link.submit(r));
    ids.push_back(r.id);
  }
  REQUIRE(link.waitAcked(30s));
  return ids;
}

}  // namespace reporthub::test
