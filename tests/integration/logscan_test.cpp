// End-to-end tests of the logscan input (issue 4, DESIGN §1): a real hub follows a log file
// that the test writes, rotates, copies and truncates, while logscan is killed with SIGKILL
// or by DeskOff; the operator log must show every matching line exactly once.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

using namespace reporthub::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Every line matches the rule when its number is a multiple of `every`.
const char* kLogscanConfig = R"(outputs: { local: { format: json } }
inputs:
  logscan:
    poll: 100ms
    files:
      - path: logs/app.log
        rules:
          - { match: 'ERROR (\d+)$', category: APP, severity: error, text: 'E{1}' }
)";

// Appends numbered log lines through one descriptor, as an application does.
class Writer {
 public:
  Writer(fs::path path, int every) : path_(std::move(path)), every_(every) { reopen(); }
  ~Writer() {
    if (fd_ >= 0) close(fd_);
  }
  // Writes lines up to number `to`; returns the numbers that match.
  void writeTo(int to) {
    std::string chunk;
    for (; next_ <= to; ++next_) {
      if (next_ % every_ == 0) {
        chunk += "2026-11-22T05:00:00Z app[7]: ERROR " + std::to_string(next_) + "\n";
        ++matching_;
      } else {
        chunk += "2026-11-22T05:00:00Z app[7]: info request " + std::to_string(next_) + " ok\n";
      }
      if (chunk.size() > 64 * 1024) flush(chunk);
    }
    flush(chunk);
  }
  // Up to and including the next matching line.
  void writeToNextMatch() { writeTo((next_ + every_ - 1) / every_ * every_); }
  // The application reopens its log by name (after a rename, a new file).
  void reopen() {
    if (fd_ >= 0) close(fd_);
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    REQUIRE(fd_ >= 0);
  }
  int matching() const { return matching_; }
  int next() const { return next_; }

 private:
  void flush(std::string& chunk) {
    REQUIRE(write(fd_, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
    chunk.clear();
  }
  fs::path path_;
  int every_;
  int fd_ = -1;
  int next_ = 1;
  int matching_ = 0;
};

std::size_t countLines(const fs::path& p) {
  const std::string text = readFile(p);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

bool waitLogLines(Hub& hub, std::size_t n, std::chrono::milliseconds timeout = 60s) {
  return waitFor([&] { return countLines(hub.operatorLog()) >= n; }, timeout, 20ms);
}

// How often each number was reported in category APP ("E<n>").
std::map<int, int> reportedNumbers(Hub& hub) {
  std::map<int, int> count;
  for (const auto& line : readLines(hub.operatorLog())) {
    const auto j = json::parse(line, nullptr, false);
    if (!j.is_object() || j["category"] != "APP") continue;
    count[std::stoi(j["text"].get<std::string>().substr(1))]++;
  }
  return count;
}

// Every multiple of `every` up to `last` exactly once, and nothing else.
void checkExactlyOnce(Hub& hub, int last, int every) {
  const auto count = reportedNumbers(hub);
  int missing = 0, repeated = 0, unexpected = 0;
  for (int n = every; n <= last; n += every) {
    const auto it = count.find(n);
    if (it == count.end()) {
      ++missing;
    } else if (it->second > 1) {
      ++repeated;
    }
  }
  for (const auto& [n, c] : count)
    unexpected += (n % every != 0 || n > last) ? 1 : 0;
  INFO("missing " << missing << ", repeated " << repeated << ", unexpected " << unexpected);
  CHECK(missing == 0);
  CHECK(repeated == 0);
  CHECK(unexpected == 0);
  CHECK(count.size() == static_cast<std::size_t>(last / every));
}

std::uint64_t savedOffset(Hub& hub) {
  const auto j = json::parse(readFile(hub.dir() / "var/logscan/offsets.json"), nullptr, false);
  if (!j.is_object()) return 0;
  std::uint64_t offset = 0;
  for (const auto& [path, files] : j["files"].items()) {
    for (const auto& f : files)
      offset = std::max<std::uint64_t>(offset, f["offset"].get<std::uint64_t>());
  }
  return offset;
}

// Writes a batch of lines at every poll until logscan's saved offset lies inside what is
// written: then it is mid-file, with lines acknowledged behind it and lines still ahead.
bool waitUntilMidFile(Hub& hub, Writer& w, const fs::path& log) {
  return waitFor(
      [&] {
        w.writeTo(w.next() + 999);
        const auto saved = savedOffset(hub);
        return saved > 0 && saved < fs::file_size(log);
      },
      30s, 5ms);
}

// The offset a restarted logscan said it resumed at ("resuming FILE (inode N) at offset X").
std::vector<std::uint64_t> resumedAt(Hub& hub) {
  std::vector<std::uint64_t> out;
  static const std::regex re(R"(\[logscan\] info: resuming .* at offset (\d+))");
  for (const auto& line : readLines(hub.hubLog())) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out.push_back(std::stoull(m[1]));
  }
  return out;
}

}  // namespace

TEST_CASE("logscan reports every matching line once through 5 renames and a copy-truncate",
          "[logscan][integration]") {
  Hub hub(kLogscanConfig);
  const fs::path log = hub.dir() / "logs/app.log";
  fs::create_directories(log.parent_path());
  hub.start();
  // logscan says ready once it watches the directory: from then on no rename escapes it.
  REQUIRE(waitFor([&] { return hub.processStatus("logscan")["state"] == "running"; }));

  constexpr int kLines = 100'000, kEvery = 5;
  Writer w(log, kEvery);
  int renames = 0;
  for (int segment = 1; segment <= 6; ++segment) {
    w.writeTo(segment * kLines / 7);
    if (segment == 3) {
      // copytruncate: the content so far goes to a copy, the file is emptied, and the writer
      // goes on through its O_APPEND descriptor at the new end.
      fs::copy_file(log, hub.dir() / "logs/app.log.copied");
      REQUIRE(truncate(log.c_str(), 0) == 0);
    } else {
      // Rename; the application writes to the old file a little longer, then reopens.
      fs::rename(log, hub.dir() / ("logs/app.log." + std::to_string(++renames)));
      w.writeTo(w.next() + 499);
      w.reopen();
    }
    // Rotations are minutes apart in life: let logscan see the new file before the next one.
    w.writeToNextMatch();
    REQUIRE(waitLogLines(hub, static_cast<std::size_t>(w.matching())));
  }
  w.writeTo(kLines);
  CHECK(renames == 5);
  REQUIRE(waitLogLines(hub, kLines / kEvery));
  REQUIRE(hub.stop() == 0);  // drains everything: a late duplicate would be in the log now
  checkExactlyOnce(hub, kLines, kEvery);
  // Each rename seen once: as a new file at the path, as no file there yet, or (the first,
  // if logscan looked only after it) through the rename event of a file it never opened.
  int rotations = 0, copies = 0;
  for (const auto& line : readLines(hub.hubLog())) {
    if (line.find("[logscan]") == std::string::npos) continue;
    rotations +=
        line.find("was rotated (the name now leads to another file)") != std::string::npos ||
        line.find("was renamed or removed") != std::string::npos ||
        line.find("before logscan could open it") != std::string::npos;
    copies += line.find("reading the rest of the old content from its copy") != std::string::npos;
  }
  CHECK(rotations == 5);
  CHECK(copies == 1);
}

TEST_CASE("logscan killed with SIGKILL mid-file loses and repeats no line",
          "[logscan][integration]") {
  Hub hub(kLogscanConfig);
  const fs::path log = hub.dir() / "logs/app.log";
  fs::create_directories(log.parent_path());
  Writer w(log, 2);
  w.writeTo(40'000);
  hub.start();
  // Mid-file, however fast this machine: the application keeps writing until logscan has
  // saved an offset inside what is already written.
  REQUIRE(waitUntilMidFile(hub, w, log));
  const int pid = hub.processStatus("logscan")["pid"];
  REQUIRE(pid > 0);
  REQUIRE(kill(pid, SIGKILL) == 0);
  const auto size_at_kill = fs::file_size(log);
  w.writeTo(w.next() + 20'000);  // written while it is down or restarting
  const int last = w.next() - 1;
  REQUIRE(waitLogLines(hub, static_cast<std::size_t>(w.matching())));
  REQUIRE(hub.stop() == 0);
  checkExactlyOnce(hub, last, 2);
  const auto resumed = resumedAt(hub);
  REQUIRE(resumed.size() == 1);
  CHECK(resumed[0] > 0);
  CHECK(resumed[0] < size_at_kill);
  CHECK(readFile(hub.hubLog()).find("logscan (pid " + std::to_string(pid) + ") died") !=
        std::string::npos);
}

TEST_CASE("DeskOff kills logscan mid-file and DeskOn resumes where it left off",
          "[logscan][integration]") {
  Hub hub(kLogscanConfig);
  const fs::path log = hub.dir() / "logs/app.log";
  fs::create_directories(log.parent_path());
  Writer w(log, 2);
  w.writeTo(40'000);
  hub.start();
  REQUIRE(waitUntilMidFile(hub, w, log));
  REQUIRE(hub.hubctl({"deskoff"}).code == 0);
  REQUIRE(waitFor([&] { return hub.processStatus("logscan")["state"] == "stopped"; }));
  const auto size_at_kill = fs::file_size(log);
  w.writeTo(w.next() + 10'000);
  const int last = w.next() - 1;
  // Not started again while the desk is off (reports it submitted before may still be on
  // their way to the operator log).
  CHECK(hub.processStatus("logscan")["state"] == "stopped");
  REQUIRE(hub.hubctl({"deskon"}).code == 0);
  REQUIRE(waitLogLines(hub, static_cast<std::size_t>(w.matching())));
  REQUIRE(hub.stop() == 0);
  checkExactlyOnce(hub, last, 2);
  const auto resumed = resumedAt(hub);
  REQUIRE(resumed.size() == 1);
  CHECK(resumed[0] > 0);
  CHECK(resumed[0] < size_at_kill);
  CHECK(readFile(hub.hubLog()).find("DeskOff: killing logscan") != std::string::npos);
}

TEST_CASE("logscan rules with capture templates and continue reach the operator log",
          "[logscan][integration]") {
  Hub hub(R"(outputs: { local: { format: json } }
inputs:
  logscan:
    files:
      - path: app.log
        rules:
          - { match: 'disk (\w+) failed', category: DISK, severity: critical, text: 'disk {1} failed ({0})', continue: true }
          - { match: 'failed', category: FAIL }
          - { match: 'disk', category: NEVER }
)");
  writeFile(hub.dir() / "app.log", "boot ok\nkernel: disk sda failed\n");
  hub.start();
  REQUIRE(hub.waitLines(2));
  REQUIRE(hub.stop() == 0);
  const auto lines = readLines(hub.operatorLog());
  REQUIRE(lines.size() == 2);
  const auto disk = json::parse(lines[0]);
  CHECK(disk["category"] == "DISK");
  CHECK(disk["severity"] == "critical");
  CHECK(disk["source"] == "logscan");
  CHECK(disk["text"] == "disk sda failed (disk sda failed)");
  CHECK(disk["attrs"]["offset"] == "8");
  CHECK(disk["attrs"]["rule"] == "1");
  CHECK(disk["attrs"]["file"] == (hub.dir() / "app.log").string());
  const auto fail = json::parse(lines[1]);
  CHECK(fail["category"] == "FAIL");
  CHECK(fail["severity"] == "warning");
  CHECK(fail["text"] == "kernel: disk sda failed");  // no template: the whole line
}

TEST_CASE("an invalid logscan pattern is a config error with line and column",
          "[logscan][integration][config]") {
  TempDir dir;
  const auto file = dir / "hub.yaml";
  writeFile(file, R"(node: a
inputs:
  logscan:
    files:
      - path: app.log
        rules:
          - { match: 'ERROR (\d+', category: APP }
          - { match: 'disk (\w+)', category: APP, text: 'disk {2}' }
)");
  for (const char* cmd : {"check-config", "run"}) {
    auto r = runCommand({reporthubBin(), cmd, "-c", file.string()});
    INFO(cmd << " stderr: " << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(file.string() + ":7:22: ") != std::string::npos);
    CHECK(r.err.find("missing closing parenthesis at offset 10") != std::string::npos);
    CHECK(r.err.find(file.string() + ":8:57: ") != std::string::npos);
    CHECK(r.err.find("{2} but the pattern has 1 capture group") != std::string::npos);
  }
}
