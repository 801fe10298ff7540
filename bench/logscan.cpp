// logscan: the log scanner's throughput on a large generated log file with 10 rules, beside
// `grep -E -c` with the same patterns on the same file in the same round (warm page cache
// for both), then end to end: lines appended to a followed file -> reports in the operator
// log of a real hub.
#include "bench/support.h"

#include "config/config.h"
#include "inputs/logscan/scanner.h"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace rb = reporthub::bench;
namespace ls = reporthub::inputs::logscan;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct RuleSpec {
  const char* pattern;  // valid for PCRE2 and for POSIX ERE (grep -E) alike
  const char* text;
  const char* category;
};

// What operators write: literal words around captures, one written the common way with a
// negated class (block-searched through its guarded form).
constexpr std::array<RuleSpec, 10> kRules = {{
    {"ERROR ([0-9]+)", "error {1}", "APPERROR"},
    {"disk ([^ ]+) failed", "disk {1} failed", "DISK"},
    {"timeout after ([0-9]+) ?ms", "timeout {1} ms", "TIMEOUT"},
    {"connection refused from ([0-9.]+)", "refused {1}", "NET"},
    {"OutOfMemoryError", "", "MEMORY"},
    {"segfault at ([0-9a-f]+)", "segfault {1}", "CRASH"},
    {"authentication failure for user ([A-Za-z0-9_]+)", "auth failure {1}", "AUTH"},
    {"CRITICAL: (.*)", "{1}", "CRITICAL"},
    {"panic: (.+)", "panic {1}", "CRASH"},
    {"deadlock detected in ([A-Za-z0-9_]+)", "deadlock in {1}", "APPERROR"},
}};

// One kind of matching line per rule.
constexpr std::array<const char*, 10> kMatching = {
    "ERROR 4%u while processing request",
    "disk sd%u failed with I/O error",
    "timeout after %u ms waiting for upstream",
    "connection refused from 10.0.%u.7",
    "java.lang.OutOfMemoryError: Java heap space in pool %u",
    "segfault at 7f%uab ip 0000 sp 0000 error 4",
    "authentication failure for user u%u",
    "CRITICAL: replica %u lost quorum",
    "panic: runtime error: index out of range %u",
    "deadlock detected in worker%u",
};

constexpr std::array<const char*, 24> kWords = {
    "the",    "request", "user",    "session", "cache",  "worker",  "queue",   "job",
    "node",   "shard",   "replica", "index",   "query",  "handler", "backend", "client",
    "server", "token",   "config",  "reload",  "metric", "sample",  "batch",   "flush"};
constexpr std::array<const char*, 4> kLevels = {"INFO", "DEBUG", "WARN", "NOTICE"};

struct Xorshift {
  std::uint64_t s = 0x9e3779b97f4a7c15ull;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s >> 16);
  }
};

struct LogFile {
  std::uint64_t lines = 0, matching = 0, bytes = 0;
};

// Writes log lines to `path` until it holds `bytes` or `max_lines`, `pct` percent of them
// matching one rule.
LogFile generate(const fs::path& path, std::uint64_t bytes, double pct,
                 std::uint64_t max_lines = UINT64_MAX) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  Xorshift rng;
  LogFile f;
  std::string chunk;
  chunk.reserve(5 << 20);
  const auto threshold = static_cast<std::uint32_t>(pct / 100.0 * 65536);
  char msg[160];
  while (f.bytes + chunk.size() < bytes && f.lines < max_lines) {
    const std::uint64_t i = ++f.lines;
    char head[96];
    const int hn = std::snprintf(
        head, sizeof head,
        "2026-11-22T03:%02u:%02u.%03uZ host%02u app[%u]: ", static_cast<unsigned>(i / 60000 % 60),
        static_cast<unsigned>(i / 1000 % 60), static_cast<unsigned>(i % 1000),
        static_cast<unsigned>(i % 7), 1000 + static_cast<unsigned>(i % 50));
    chunk.append(head, static_cast<std::size_t>(hn));
    chunk += kLevels[rng.next() % kLevels.size()];
    chunk += ' ';
    if ((rng.next() & 0xffff) < threshold) {
      ++f.matching;
      const int mn = std::snprintf(msg, sizeof msg, kMatching[rng.next() % kMatching.size()],
                                   static_cast<unsigned>(i % 1000));
      chunk.append(msg, static_cast<std::size_t>(mn));
    } else {
      const unsigned words = 6 + rng.next() % 9;
      for (unsigned w = 0; w < words; ++w) {
        chunk += kWords[rng.next() % kWords.size()];
        chunk += ' ';
      }
      chunk += "id=" + std::to_string(i);
    }
    chunk += '\n';
    if (chunk.size() >= (4 << 20)) {
      if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
        close(fd);
        throw std::runtime_error("write " + path.string() + ": " + std::strerror(errno));
      }
      f.bytes += chunk.size();
      chunk.clear();
    }
  }
  if (!chunk.empty() &&
      write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
    close(fd);
    throw std::runtime_error("write " + path.string() + ": " + std::strerror(errno));
  }
  f.bytes += chunk.size();
  close(fd);
  return f;
}

std::string rulesYaml() {
  std::string out;
  for (const auto& r : kRules) {
    out += "          - { match: '" + std::string(r.pattern) + "', category: " + r.category;
    if (*r.text) out += ", text: '" + std::string(r.text) + "'";
    out += " }\n";
  }
  return out;
}

double cpuSelf() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double cpuChildren() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Timed {
  double wall = 0, cpu = 0;
  std::uint64_t matches = 0;
};

// Reads the whole file in the scanner's block size: the floor under any scan of it.
Timed readOnly(const fs::path& path) {
  const double c0 = cpuSelf();
  const auto t0 = rb::Clock::now();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::vector<char> buf(1 << 20);
  off_t off = 0;
  for (ssize_t n; (n = pread(fd, buf.data(), buf.size(), off)) > 0;)
    off += n;
  close(fd);
  return {rb::secondsSince(t0), cpuSelf() - c0, 0};
}

struct CountingSink : ls::Sink {
  std::uint64_t n = 0, text_bytes = 0;
  std::uint64_t submit(const reporthub::Report& r) override {
    text_bytes += r.text.size();
    return ++n;
  }
};

// The scanning engine as logscan runs it (read, block search, per-line rules, report
// building), with reports counted instead of sent.
Timed engine(const fs::path& path, const fs::path& state_dir) {
  reporthub::config::Config cfg;
  cfg.node = "bench";
  cfg.state_dir = state_dir;
  reporthub::config::LogFile file;
  file.path = path;
  for (const auto& r : kRules) {
    reporthub::config::LogRule rule;
    rule.match = r.pattern;
    rule.text = r.text;
    rule.category = r.category;
    file.rules.push_back(rule);
  }
  reporthub::config::LogscanInput in;
  in.files = {file};
  cfg.inputs.logscan = in;
  fs::remove_all(state_dir);
  CountingSink sink;
  const double c0 = cpuSelf();
  const auto t0 = rb::Clock::now();
  ls::Scanner scanner(cfg, sink);
  scanner.start();
  while (scanner.read(std::size_t{1} << 30)) {
    rb::throwIfInterrupted();
  }
  return {rb::secondsSince(t0), cpuSelf() - c0, sink.n};
}

Timed grep(const fs::path& path, const fs::path& dir) {
  std::vector<std::string> argv = {"/usr/bin/env", "LC_ALL=C", "grep", "-E", "-c"};
  for (const auto& r : kRules) {
    argv.push_back("-e");
    argv.push_back(r.pattern);
  }
  argv.push_back(path.string());
  const double c0 = cpuChildren();
  const auto t0 = rb::Clock::now();
  rb::Child child(argv, dir / "grep.out", dir / "grep.err");
  const int code = child.wait(600s);
  Timed t{rb::secondsSince(t0), cpuChildren() - c0, 0};
  if (code != 0 && code != 1)
    throw std::runtime_error("grep -E exited with " + std::to_string(code));
  t.matches = std::stoull(rb::readFile(dir / "grep.out"));
  return t;
}

struct EndToEnd {
  double seconds = 0, logscan_cpu = 0, hub_cpu = 0;
  std::uint64_t lines = 0;
};

// A hub following logs/app.log; the whole file appears at once (renamed into place), and
// the clock stops when the operator log holds a line per matching line.
EndToEnd endToEnd(std::uint64_t lines, double pct) {
  rb::Hub hub("inputs:\n  logscan:\n    files:\n      - path: logs/app.log\n        rules:\n" +
              rulesYaml());
  fs::create_directories(hub.dir() / "logs");
  const auto staged = hub.dir() / "app.log.staged";
  const LogFile f = generate(staged, UINT64_MAX, pct, lines);
  hub.start();
  const pid_t scanner = hub.processPid("logscan");
  const double l0 = rb::cpuSeconds(scanner), h0 = rb::cpuSeconds(hub.pid());
  rb::LogTail tail(hub.operatorLog());
  const auto t0 = rb::Clock::now();
  fs::rename(staged, hub.dir() / "logs/app.log");
  if (!rb::waitFor([&] { return tail.poll() >= f.matching; }, 600s, 2ms)) {
    throw std::runtime_error("the operator log holds " + std::to_string(tail.lines()) + " of " +
                             std::to_string(f.matching) + " reports after 10 minutes");
  }
  EndToEnd e;
  e.lines = f.lines;
  e.seconds = rb::secondsSince(t0);
  e.logscan_cpu = rb::cpuSeconds(scanner) - l0;
  e.hub_cpu = rb::cpuSeconds(hub.pid()) - h0;
  std::printf(
      "  end to end: %llu lines (%llu matching, %.0f%%) -> operator log in %.2f s: %.2fM "
      "lines/s, %.0fk reports/s | CPU logscan %.2f s, hub %.2f s\n",
      static_cast<unsigned long long>(f.lines), static_cast<unsigned long long>(f.matching), pct,
      e.seconds, static_cast<double>(f.lines) / e.seconds / 1e6,
      static_cast<double>(f.matching) / e.seconds / 1e3, e.logscan_cpu, e.hub_cpu);
  hub.stop();
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub logscan benchmark: scanning engine beside grep -E, and end to end"};
  std::uint64_t mib = 1024;
  double pct = 1;
  int rounds = 3;
  std::uint64_t e2e_lines = 2'000'000;
  double e2e_pct = 10;
  bool no_e2e = false;
  app.add_option("--mb", mib, "size of the generated log file in MiB")->default_val(mib);
  app.add_option("--pct", pct, "percent of its lines that match a rule")->default_val(pct);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_option("--e2e-lines", e2e_lines, "lines for the end-to-end run")->default_val(e2e_lines);
  app.add_option("--e2e-pct", e2e_pct, "percent of those that match")->default_val(e2e_pct);
  app.add_flag("--no-e2e", no_e2e, "skip the end-to-end run");
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  spdlog::set_level(spdlog::level::warn);  // the engine's "following FILE" lines are noise here
  try {
    rb::TempDir dir;
    const auto file = dir.path() / "app.log";
    std::printf(
        "logscan: %d rules on a %llu MiB log file (%.1f%% of lines match), beside "
        "grep -E -c with the same patterns (LC_ALL=C), warm cache, %d rounds\n",
        static_cast<int>(kRules.size()), static_cast<unsigned long long>(mib), pct, rounds);
    const auto g0 = rb::Clock::now();
    const LogFile f = generate(file, mib << 20, pct);
    std::printf("file: %llu lines, %.0f bytes per line, %llu matching; generated in %.1f s\n",
                static_cast<unsigned long long>(f.lines),
                static_cast<double>(f.bytes) / static_cast<double>(f.lines),
                static_cast<unsigned long long>(f.matching), rb::secondsSince(g0));
    std::fflush(stdout);
    readOnly(file);  // warm the page cache

    const double lines = static_cast<double>(f.lines), mb = static_cast<double>(f.bytes) / 1e6;
    std::vector<double> eng_rate, grep_rate, ratio, read_rate;
    for (int i = 1; i <= rounds; ++i) {
      // Alternate who goes first, so neither always finds the cache as the other left it.
      Timed e, g;
      if (i % 2) {
        e = engine(file, dir.path() / "state");
        g = grep(file, dir.path());
      } else {
        g = grep(file, dir.path());
        e = engine(file, dir.path() / "state");
      }
      const Timed r = readOnly(file);
      eng_rate.push_back(lines / e.wall);
      grep_rate.push_back(lines / g.wall);
      ratio.push_back(g.wall / e.wall);
      read_rate.push_back(mb / r.wall);
      std::printf(
          "round %d: logscan engine %.2f s, %.2fM lines/s, %.0f MB/s (CPU %.2f s) | grep -E "
          "%.2f s, %.2fM lines/s, %.0f MB/s (CPU %.2f s) | engine/grep %.2f | reading "
          "alone %.0f MB/s\n",
          i, e.wall, lines / e.wall / 1e6, mb / e.wall, e.cpu, g.wall, lines / g.wall / 1e6,
          mb / g.wall, g.cpu, g.wall / e.wall, mb / r.wall);
      if (e.matches != g.matches) {
        std::printf("  warning: logscan found %llu matching lines, grep %llu\n",
                    static_cast<unsigned long long>(e.matches),
                    static_cast<unsigned long long>(g.matches));
      }
      std::fflush(stdout);
    }
    std::printf(
        "median: logscan engine %.2fM lines/s, grep -E %.2fM lines/s, engine/grep %.2f "
        "(goal: at least 1.00); reading alone %.0f MB/s\n",
        rb::median(eng_rate) / 1e6, rb::median(grep_rate) / 1e6, rb::median(ratio),
        rb::median(read_rate));
    fs::remove(file);
    if (!no_e2e) {
      std::vector<double> e2e;
      for (int i = 1; i <= rounds; ++i) {
        std::printf("round %d:\n", i);
        const EndToEnd e = endToEnd(e2e_lines, e2e_pct);
        e2e.push_back(static_cast<double>(e.lines) / e.seconds);
      }
      std::printf("median: end to end %.2fM lines/s\n", rb::median(e2e) / 1e6);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "logscan: %s\n", e.what());
    return 1;
  }
  return 0;
}
