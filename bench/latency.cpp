// latency: reports submitted at a paced rate (default 10k/s) through a real hub, timed from
// submission to their line appearing in the operator log. The log is JSON, so each line
// carries ts_ns, the wall-clock submit time set here; a reader thread tails the file (woken
// by inotify) and takes now - ts_ns on the same clock. Prints p50/p99/max per round and medians.
#include "bench/support.h"

#include <CLI/CLI.hpp>

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

struct Figures {
  double p50_us = 0, p99_us = 0, max_us = 0;
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

Figures measure(std::size_t n, double rate, std::size_t size, std::size_t warmup) {
  rb::Hub hub(
      "shutdown: { kill_timeout: 30s }\n"
      "outputs:\n  local: { file: var/operator.log, format: json }\n"
      "recipients:\n  operator: local\n"
      "categories:\n  BENCH: [operator]\n  default: [operator]\n");
  hub.start();
  const pid_t local = hub.processPid("local");
  const double hub_cpu0 = rb::cpuSeconds(hub.pid()), local_cpu0 = rb::cpuSeconds(local);
  Figures f;
  std::vector<double> lat;
  {
    Reader reader(hub.operatorLog());
    rb::Generator gen(hub.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto period =
        std::chrono::duration_cast<rb::Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    // Open loop: report i is due at t0 + i * period, so a stall here is followed by a burst
    // that catches up, not by a lower rate.
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto due = t0 + static_cast<long>(i) * period;
      std::this_thread::sleep_until(due);
      r.id = reporthub::newReportId();
      r.ts_ns = reporthub::nowNs();
      gen.submit(r);
    }
    f.achieved_rate = static_cast<double>(n) / rb::secondsSince(t0);
    gen.waitAcked(30s);
    if (!rb::waitFor([&] { return reader.lines() >= n; }, 60s)) {
      throw std::runtime_error("only " + std::to_string(reader.lines()) + " of " +
                               std::to_string(n) + " lines reached the operator log");
    }
    f.hub_cpu_us = (rb::cpuSeconds(hub.pid()) - hub_cpu0) * 1e6 / static_cast<double>(n);
    f.local_cpu_us = (rb::cpuSeconds(local) - local_cpu0) * 1e6 / static_cast<double>(n);
    reader.stop();
    lat.assign(reader.latencies().begin() + static_cast<long>(std::min(warmup, n - 1)),
               reader.latencies().begin() + static_cast<long>(n));
  }
  hub.stop();
  if (std::count(lat.begin(), lat.end(), -1.0) > 0)
    throw std::runtime_error("operator log lines without ts_ns");
  std::sort(lat.begin(), lat.end());
  f.p50_us = rb::quantile(lat, 0.50);
  f.p99_us = rb::quantile(lat, 0.99);
  f.max_us = lat.back();
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
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  // Sleeps of 100 us must not be stretched by the default 50 us timer slack.
  prctl(PR_SET_TIMERSLACK, 1UL);
  std::printf(
      "latency: %zu reports of %zu bytes per round at %.0f/s (first %zu left out), %d rounds\n", n,
      size, rate, warmup, rounds);
  std::vector<double> p50, p99, max, hub_cpu, local_cpu;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures f = measure(n, rate, size, warmup);
      p50.push_back(f.p50_us);
      p99.push_back(f.p99_us);
      max.push_back(f.max_us);
      hub_cpu.push_back(f.hub_cpu_us);
      local_cpu.push_back(f.local_cpu_us);
      std::printf(
          "round %d: submitted at %.0f/s; submit -> operator log line: p50 %.0f us, p99 %.0f us, "
          "max %.0f us | CPU per report: hub %.1f us, local %.1f us\n",
          i, f.achieved_rate, f.p50_us, f.p99_us, f.max_us, f.hub_cpu_us, f.local_cpu_us);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median: p50 %.0f us, p99 %.0f us, max %.0f us | CPU per report: hub %.1f us, local %.1f "
      "us\n",
      rb::median(p50), rb::median(p99), rb::median(max), rb::median(hub_cpu),
      rb::median(local_cpu));
  return 0;
}
