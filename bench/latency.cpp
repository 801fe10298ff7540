// latency: reports submitted at a paced rate (default 10k/s) through a real hub (journal
// sync on by default: acknowledged after fdatasync), timed from submission to their line
// appearing in the operator log, and from submission to the hub's Ack reaching the
// generator. The log is JSON, so each line carries ts_ns, the wall-clock submit time set
// here; a reader thread tails the file (woken by inotify) and takes now - ts_ns on the same
// clock. Prints p50/p99/max per round and medians.
#include "bench/support.h"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

namespace rb = reporthub::bench;
using namespace std::chrono_literals;

namespace {

struct Percentiles {
  double p50_us = 0, p99_us = 0, max_us = 0;
};

Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {rb::quantile(v, 0.50), rb::quantile(v, 0.99), v.empty() ? 0 : v.back()};
}

struct Figures {
  Percentiles log;                          // submit -> operator log line
  Percentiles ack;                          // submit -> the Ack covering it read by the generator
  Percentiles disk;                         // fdatasync of a small append, before the hub starts
  double achieved_rate = 0;                 // what the generator really submitted, per second
  double hub_cpu_us = 0, local_cpu_us = 0;  // CPU per report (user + system, all threads)
};

// The submit time of one JSON operator-log line. A string search, not a JSON parse: the
// reader must keep up without stealing CPU from the hub on a small machine.
std::int64_t tsNsOf(std::string_view line) {
  constexpr std::string_view kKey = "\"ts_ns\":";
  const auto at = line.find(kKey);
  if (at == std::string_view::npos) return 0;
  return std::strtoll(line.data() + at + kKey.size(), nullptr, 10);
}

// Tails the operator log on its own thread, recording one latency per line in file order.
class Reader {
 public:
  explicit Reader(const std::filesystem::path& file) : tail_(file) {
    latencies_us_.reserve(1 << 20);
    tail_.on_line = [this](std::string_view line) {
      const std::int64_t ts = tsNsOf(line);
      latencies_us_.push_back(ts > 0 ? static_cast<double>(now_ns_ - ts) / 1e3 : -1);
    };
    inotify_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_ < 0 || inotify_add_watch(inotify_, file.c_str(), IN_MODIFY) < 0)
      throw std::runtime_error("inotify on " + file.string() + " failed");
    thread_ = std::thread([this] { loop(); });
  }
  ~Reader() {
    stop();
    close(inotify_);
  }
  std::size_t lines() const { return lines_; }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Latencies in microseconds (-1 for a line without ts_ns), in file order; after stop().
  const std::vector<double>& latencies() const { return latencies_us_; }

 private:
  void loop() {
    char events[4096];
    while (!stop_) {
      pollfd p{inotify_, POLLIN, 0};
      ::poll(&p, 1, 100);
      while (read(inotify_, events, sizeof events) > 0) {
      }
      // Every line found in this read appeared no later than now.
      now_ns_ = reporthub::nowNs();
      lines_ = tail_.poll();
    }
  }

  rb::LogTail tail_;
  int inotify_ = -1;
  std::int64_t now_ns_ = 0;
  std::vector<double> latencies_us_;
  std::atomic<std::size_t> lines_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// fdatasync after a 2 KiB append to a file in `dir`, `count` times (no hub running yet): the
// floor under a durable Ack on this disk. A report waits for the sync in progress when it is
// written, then for the one that covers it, so its Ack comes after one to two of these.
Percentiles fdatasyncProbe(const std::filesystem::path& dir, int count) {
  const auto path = dir / "fdatasync.probe";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path.string() + " failed");
  const std::string block(2048, 'x');
  std::vector<double> us;
  for (int i = 0; i < count; ++i) {
    rb::throwIfInterrupted();
    const auto t0 = rb::Clock::now();
    if (write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        fdatasync(fd) != 0) {
      close(fd);
      throw std::runtime_error("write or fdatasync on " + path.string() + " failed");
    }
    us.push_back(rb::secondsSince(t0) * 1e6);
  }
  close(fd);
  std::filesystem::remove(path);
  return percentiles(std::move(us));
}

std::int64_t steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(rb::Clock::now().time_since_epoch())
      .count();
}

Figures measure(std::size_t n, double rate, std::size_t size, std::size_t warmup, bool sync,
                int probes) {
  rb::Hub hub(std::string("shutdown: { kill_timeout: 30s }\n") +
              (sync ? "" : "journal: { sync: off }\n") +
              "outputs:\n  local: { file: var/operator.log, format: json }\n"
              "recipients:\n  operator: local\n"
              "categories:\n  BENCH: [operator]\n  default: [operator]\n");
  Figures f;
  if (probes > 0) f.disk = fdatasyncProbe(hub.dir(), probes);
  hub.start();
  const pid_t local = hub.processPid("local");
  const double hub_cpu0 = rb::cpuSeconds(hub.pid()), local_cpu0 = rb::cpuSeconds(local);
  std::vector<double> lat, ack_lat;
  {
    Reader reader(hub.operatorLog());
    rb::Generator gen(hub.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto period =
        std::chrono::duration_cast<rb::Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    // Submit times by seq (steady clock), and one submit -> Ack latency per report in seq
    // order. An Ack covers every seq up to its `upto`; each is timed when the generator reads
    // it, which it does between submissions: to within one period (100 us at 10k/s).
    std::vector<std::int64_t> submit_ns(n + 1);
    ack_lat.reserve(n);
    std::uint64_t seen = 0;
    auto noteAcks = [&] {
      const std::uint64_t upto = gen.acked();
      if (upto <= seen) return;
      const std::int64_t now = steadyNs();
      for (std::uint64_t seq = seen + 1; seq <= upto; ++seq)
        ack_lat.push_back(static_cast<double>(now - submit_ns[seq]) / 1e3);
      seen = upto;
    };
    // Open loop: report i is due at t0 + i * period, so a stall here is followed by a burst
    // that catches up, not by a lower rate.
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto due = t0 + static_cast<long>(i) * period;
      for (;;) {
        gen.pump(reporthub::Duration(0));
        noteAcks();
        const auto left = due - rb::Clock::now();
        if (left <= rb::Clock::duration::zero()) break;
        if (left >= 1ms)  // returns early when an Ack arrives
          gen.pump(std::chrono::floor<reporthub::Duration>(left));
        else
          std::this_thread::sleep_until(due);
      }
      r.id = reporthub::newReportId();
      r.ts_ns = reporthub::nowNs();
      submit_ns[gen.submitted() + 1] = steadyNs();
      gen.submit(r);
    }
    f.achieved_rate = static_cast<double>(n) / rb::secondsSince(t0);
    const auto ack_deadline = rb::Clock::now() + 30s;
    while (gen.acked() < gen.submitted()) {
      if (rb::Clock::now() >= ack_deadline) {
        throw std::runtime_error("the hub acknowledged " + std::to_string(gen.acked()) + " of " +
                                 std::to_string(gen.submitted()) + " reports in time");
      }
      gen.pump(10ms);
      noteAcks();
    }
    if (!rb::waitFor([&] { return reader.lines() >= n; }, 60s)) {
      throw std::runtime_error("only " + std::to_string(reader.lines()) + " of " +
                               std::to_string(n) + " lines reached the operator log");
    }
    f.hub_cpu_us = (rb::cpuSeconds(hub.pid()) - hub_cpu0) * 1e6 / static_cast<double>(n);
    f.local_cpu_us = (rb::cpuSeconds(local) - local_cpu0) * 1e6 / static_cast<double>(n);
    reader.stop();
    lat.assign(reader.latencies().begin() + static_cast<long>(std::min(warmup, n - 1)),
               reader.latencies().begin() + static_cast<long>(n));
    ack_lat.erase(ack_lat.begin(), ack_lat.begin() + static_cast<long>(std::min(warmup, n - 1)));
  }
  hub.stop();
  if (std::count(lat.begin(), lat.end(), -1.0) > 0)
    throw std::runtime_error("operator log lines without ts_ns");
  f.log = percentiles(std::move(lat));
  f.ack = percentiles(std::move(ack_lat));
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub latency benchmark"};
  std::size_t n = 30'000, size = 200, warmup = 1000;
  double rate = 10'000;
  int rounds = 3;
  app.add_option("-n,--count", n, "reports per round")
      ->default_val(n)
      ->check(CLI::Range(2, 1 << 26));
  app.add_option("--rate", rate, "reports per second")
      ->default_val(rate)
      ->check(CLI::PositiveNumber);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-w,--warmup", warmup, "first reports left out of the figures")
      ->default_val(warmup);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  int probes = 200;
  app.add_option("--probes", probes,
                 "fdatasync calls timed on the same disk before each round (0: none)")
      ->default_val(probes);
  std::string sync = "on";
  app.add_option("--sync", sync,
                 "journal.sync of the hub: on (Ack after fdatasync) or off (Ack after write())")
      ->default_val(sync)
      ->check(CLI::IsMember({"on", "off"}));
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  // Sleeps of 100 us must not be stretched by the default 50 us timer slack.
  prctl(PR_SET_TIMERSLACK, 1UL);
  std::printf(
      "latency: %zu reports of %zu bytes per round at %.0f/s (first %zu left out), %d rounds, "
      "journal sync %s\n",
      n, size, rate, warmup, rounds, sync.c_str());
  std::vector<double> log50, log99, logmax, ack50, ack99, ackmax, disk50, disk99, hub_cpu,
      local_cpu;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures f = measure(n, rate, size, warmup, sync == "on", probes);
      log50.push_back(f.log.p50_us);
      log99.push_back(f.log.p99_us);
      logmax.push_back(f.log.max_us);
      ack50.push_back(f.ack.p50_us);
      ack99.push_back(f.ack.p99_us);
      ackmax.push_back(f.ack.max_us);
      disk50.push_back(f.disk.p50_us);
      disk99.push_back(f.disk.p99_us);
      hub_cpu.push_back(f.hub_cpu_us);
      local_cpu.push_back(f.local_cpu_us);
      std::printf(
          "round %d: submitted at %.0f/s | submit -> operator log line: p50 %.0f us, p99 %.0f us, "
          "max %.0f us | submit -> Ack: p50 %.0f us, p99 %.0f us, max %.0f us | CPU per report: "
          "hub %.1f us, local %.1f us\n"
          "         this disk, before the round: fdatasync after a 2 KiB append p50 %.0f us, p99 "
          "%.0f us, max %.0f us\n",
          i, f.achieved_rate, f.log.p50_us, f.log.p99_us, f.log.max_us, f.ack.p50_us, f.ack.p99_us,
          f.ack.max_us, f.hub_cpu_us, f.local_cpu_us, f.disk.p50_us, f.disk.p99_us, f.disk.max_us);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency: %s\n", e.what());
    return 1;
  }
  const auto goal = [](double p99_us) { return p99_us <= 10'000 ? "met" : "NOT met"; };
  std::printf(
      "median: submit -> operator log line: p50 %.0f us, p99 %.0f us (goal <= 10 ms: %s), max "
      "%.0f us\n"
      "median: submit -> Ack:               p50 %.0f us, p99 %.0f us (goal <= 10 ms: %s), max "
      "%.0f us\n"
      "median: CPU per report: hub %.1f us, local %.1f us | fdatasync on this disk p50 %.0f us, "
      "p99 %.0f us\n",
      rb::median(log50), rb::median(log99), goal(rb::median(log99)), rb::median(logmax),
      rb::median(ack50), rb::median(ack99), goal(rb::median(ack99)), rb::median(ackmax),
      rb::median(hub_cpu), rb::median(local_cpu), rb::median(disk50), rb::median(disk99));
  return 0;
}
