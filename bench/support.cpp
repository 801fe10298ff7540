// Benchmark plumbing; see support.h.
#include "bench/support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace reporthub::bench {

namespace {
std::atomic<bool> g_interrupted{false};
}  // namespace

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void installInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    sigaction(sig, &sa, nullptr);
}

void throwIfInterrupted() {
  if (g_interrupted) throw Interrupted();
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
             std::chrono::microseconds interval) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    throwIfInterrupted();
    if (cond()) return true;
    if (Clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(interval);
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

long statusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos) return -1;
  std::istringstream rest(text.substr(name_end + 1));
  std::vector<std::string> f;
  for (std::string w; rest >> w && f.size() < 13;)
    f.push_back(w);
  if (f.size() < 13) return -1;
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

Report makeReport(std::size_t bytes, const std::string& category) {
  Report r;
  r.id = newReportId();
  r.ts_ns = nowNs();
  r.origin = "bench";
  r.source = "bench";
  r.category = category;
  // Grow the text until the encoding reaches the size; the string header may grow by a
  // byte or two on the way, so this settles within a couple of bytes of `bytes`.
  while (encodeReport(r).size() < bytes)
    r.text.append(std::max<std::size_t>(1, bytes - encodeReport(r).size()), 'x');
  return r;
}

// ---- TempDir, Child ------------------------------------------------------------------

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rh-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Child::Child(const std::vector<std::string>& argv, const std::filesystem::path& out_file,
             const std::filesystem::path& err_file) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    // Dies with the bench even if the bench is killed; the hub's children die with the hub.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // ChildLink blocks SIGTERM/SIGINT/SIGHUP in the bench; exec keeps the mask, so clear it.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);  // dup2 clears it on 0
    dup2(devnull, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out);
  close(err);
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

Child::~Child() {
  kill();
}

bool Child::running() {
  if (reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (!waitFor([&] { return !running(); }, timeout, 200us)) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

void Child::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  reaped_ = true;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  TempDir tmp;
  RunResult r;
  {
    Child c(argv, tmp.path() / "out", tmp.path() / "err");
    r.code = c.wait(timeout);
  }
  r.out = readFile(tmp.path() / "out");
  return r;
}

// ---- LogTail --------------------------------------------------------------------------

LogTail::~LogTail() {
  if (fd_ >= 0) close(fd_);
}

std::size_t LogTail::poll() {
  if (fd_ < 0) {
    fd_ = open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return lines_;
  }
  for (;;) {
    const ssize_t n = read(fd_, buf_.data(), buf_.size());
    if (n <= 0) return lines_;
    const char* p = buf_.data();
    const char* end = p + n;
    if (!on_line) {
      lines_ += static_cast<std::size_t>(std::count(p, end, '\n'));
      continue;
    }
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (!nl) {
        partial_.append(p, end);
        break;
      }
      if (partial_.empty()) {
        on_line(std::string_view(p, static_cast<std::size_t>(nl - p)));
      } else {
        partial_.append(p, nl);
        on_line(partial_);
        partial_.clear();
      }
      ++lines_;
      p = nl + 1;
    }
  }
}

// ---- Hub ------------------------------------------------------------------------------

Hub::Hub(const std::string& body, std::string node) : node_(std::move(node)) {
  writeConfig(body);
}

void Hub::writeConfig(const std::string& body) {
  std::ofstream out(config(), std::ios::trunc);
  out << "node: " << node_ << "\npaths: { state_dir: var, run_dir: run }\n" << body;
}

Hub::~Hub() {
  // The hub's children have it as parent-death signal, so killing the hub's group is enough.
  kill();
}

void Hub::launch() {
  proc_.reset();
  proc_ = std::make_unique<Child>(
      std::vector<std::string>{REPORTHUB_BIN, "run", "-c", config().string()}, dir() / "hub.out",
      dir() / "hub.err");
}

void Hub::start(std::chrono::milliseconds timeout) {
  launch();
  const bool up = waitFor(
      [&] {
        if (!proc_->running()) return true;
        auto st = status();
        if (!st.is_object()) return false;
        for (const auto& p : st["processes"]) {
          if (p["state"] != "running") return false;
        }
        return true;
      },
      timeout, 20ms);
  if (!up || !proc_->running())
    throw std::runtime_error("the hub did not come up; its stderr:\n" + stderrText());
}

std::string Hub::stderrText() const {
  return readFile(dir() / "hub.err");
}

std::vector<std::string> Hub::hubctlArgv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{HUBCTL_BIN, "-c", config().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

RunResult Hub::hubctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  return runCommand(hubctlArgv(args), timeout);
}

nlohmann::json Hub::status() {
  auto r = hubctl({"status", "--json"}, 5s);
  if (r.code != 0) return nullptr;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

pid_t Hub::processPid(const std::string& id) {
  auto st = status();
  if (!st.is_object()) return -1;
  for (const auto& p : st["processes"]) {
    if (p["id"] == id) return p["pid"].get<pid_t>();
  }
  return -1;
}

int Hub::stop(std::chrono::milliseconds timeout) {
  if (!proc_) return -1;
  hubctl({"dmstop", "--wait"}, timeout);
  const int code = proc_->wait(timeout);
  if (code != 0) {
    std::fprintf(
        stderr, "warning: after DMStop the hub %s; its stderr:\n%s\n",
        code < 0 ? "was still running (killed)" : ("exited with " + std::to_string(code)).c_str(),
        stderrText().c_str());
  }
  return code;
}

// ---- Generator ------------------------------------------------------------------------

Generator::Generator(const std::string& endpoint, const std::string& id)
    : link_(std::make_unique<ChildLink>(
          ctx_, ChildLink::Options{endpoint, "bench", id, wire::Kind::input})) {}

Generator::~Generator() {
  // Normal runs end with everything acknowledged; after an error, nothing is worth the
  // link's 2 s linger.
  link_->socket().set(zmq::sockopt::linger, 0);
  link_.reset();
  // ChildLink routed SIGINT/SIGTERM/SIGHUP to its signalfd by blocking them; hand them back
  // to the interrupt handler (one that arrived meanwhile is delivered now).
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

void Generator::submit(const Report& r) {
  // ChildLink reads signals only while it waits for credit, which a paced generator never
  // does: look now and then, so Ctrl-C stops it promptly.
  // (A thread started before the link does not block the signals: the handler sees them.)
  if (link_->submitted() % 1024 == 0) link_->pump(Duration(0));
  throwIfInterrupted();
  if (link_->hasCredit()) {
    if (link_->stopRequested() || !link_->submit(r)) throw Interrupted();
    return;
  }
  const auto t0 = Clock::now();
  const bool sent = !link_->stopRequested() && link_->submit(r);
  credit_wait_s_ += secondsSince(t0);
  if (!sent) throw Interrupted();
}

void Generator::pump(Duration timeout) {
  link_->pump(timeout);
  if (link_->stopRequested()) throw Interrupted();
  throwIfInterrupted();
}

void Generator::waitAcked(Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (link_->acked() < link_->submitted()) {
    if (link_->stopRequested()) throw Interrupted();
    if (Clock::now() >= deadline) {
      throw std::runtime_error("the hub acknowledged " + std::to_string(link_->acked()) + " of " +
                               std::to_string(link_->submitted()) + " reports in time");
    }
    link_->pump(std::chrono::milliseconds(10));
  }
}

}  // namespace reporthub::bench
