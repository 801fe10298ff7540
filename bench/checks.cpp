// checks: N command checks (default 1,000 runs of /bin/true) at `every: 10s` under a real
// hub. Prints the CPU the check process used (its own, and its reaped plugins' separately)
// over a steady-state window, and the schedule drift it logged at exit (start lateness
// p50/p99/max).
#include "bench/support.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace rb = reporthub::bench;
using namespace std::chrono_literals;

namespace {

struct Cpu {
  double self = 0;      // utime + stime
  double children = 0;  // cutime + cstime: the plugins it has reaped
};

Cpu cpuOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos) throw std::runtime_error("cannot read /proc/PID/stat");
  std::istringstream rest(text.substr(name_end + 1));
  std::vector<std::string> f;
  for (std::string w; rest >> w && f.size() < 15;)
    f.push_back(w);
  if (f.size() < 15) throw std::runtime_error("short /proc/PID/stat");
  // Fields 14-17 of the whole line (utime, stime, cutime, cstime) are 11-14 after the name.
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) / tick,
          static_cast<double>(std::stoll(f[13]) + std::stoll(f[14])) / tick};
}

// Sleeps in small steps so Ctrl-C still stops the bench (and its hub) at once.
void pause(std::chrono::milliseconds d) {
  const auto end = rb::Clock::now() + d;
  while (rb::Clock::now() < end) {
    rb::throwIfInterrupted();
    std::this_thread::sleep_for(std::min<rb::Clock::duration>(100ms, end - rb::Clock::now()));
  }
}

struct Figures {
  double window_s = 0;
  double expected_runs = 0;  // in the window: each check runs once per interval
  Cpu check, hub;
  std::string summary;  // the check process's last summary line
  double p50 = -1, p99 = -1, max = -1;
  long runs = -1, skipped = -1, missed = -1;
};

Figures measure(int n, int every_s, int window_s, const std::string& command, int concurrency) {
  std::string body =
      "recipients: { operator: local }\n"
      "categories:\n  default: [operator]\n"
      "inputs:\n  check:\n    concurrency: " +
      std::to_string(concurrency) + "\n    checks:\n";
  char name[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(name, sizeof name, "c%05d", i);
    body += std::string("      - { name: ") + name + ", every: " + std::to_string(every_s) +
            "s, category: BENCH, command: [" + command + "] }\n";
  }
  rb::Hub hub(body);
  hub.start(60s);
  const pid_t check = hub.processPid("check");
  if (check <= 0) throw std::runtime_error("no check process in hub status");

  // Warm-up: the first runs are spread over one interval.
  pause(std::chrono::seconds(every_s));
  const Cpu c0 = cpuOf(check), h0 = {rb::cpuSeconds(hub.pid()), 0};
  const auto t0 = rb::Clock::now();
  pause(std::chrono::seconds(window_s));
  const Cpu c1 = cpuOf(check), h1 = {rb::cpuSeconds(hub.pid()), 0};
  Figures f;
  f.window_s = rb::secondsSince(t0);
  f.expected_runs = n * f.window_s / every_s;
  f.check = {c1.self - c0.self, c1.children - c0.children};
  f.hub = {h1.self - h0.self, 0};
  if (hub.stop(60s) != 0) throw std::runtime_error("the hub did not stop cleanly");

  // The summary the check process logs at exit covers its whole run, warm-up included.
  std::ifstream log(hub.dir() / "var/hub.log");
  for (std::string line; std::getline(log, line);) {
    if (line.find("[check] info: stopping: since start") != std::string::npos) f.summary = line;
  }
  std::smatch m;
  static const std::regex kFigures(
      R"(: (\d+) runs \(\d+ timed out\), (\d+) skipped .*?, (\d+) missed .*start lateness p50 ([\d.]+)ms p99 ([\d.]+)ms max ([\d.]+)ms)");
  if (std::regex_search(f.summary, m, kFigures)) {
    f.runs = std::stol(m[1]);
    f.skipped = std::stol(m[2]);
    f.missed = std::stol(m[3]);
    f.p50 = std::stod(m[4]);
    f.p99 = std::stod(m[5]);
    f.max = std::stod(m[6]);
  } else {
    throw std::runtime_error("no final summary from the check process in hub.log");
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub check runner benchmark: CPU and schedule drift"};
  int n = 1000, every = 10, window = 30, rounds = 1, concurrency = 8;
  std::string command = "/bin/true";
  app.add_option("-n,--checks", n, "command checks")->default_val(n);
  app.add_option("--every", every, "their interval in seconds")->default_val(every);
  app.add_option("-d,--duration", window, "measured window in seconds, after one interval")
      ->default_val(window);
  app.add_option("--command", command, "the plugin each check runs (argv[0] only)")
      ->default_val(command);
  app.add_option("--concurrency", concurrency, "inputs.check.concurrency")
      ->default_val(concurrency);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  std::printf(
      "checks: %d command checks (%s) every %ds, concurrency %d; CPU over %ds after a %ds "
      "warm-up, %d round%s\n",
      n, command.c_str(), every, concurrency, window, every, rounds, rounds == 1 ? "" : "s");
  std::vector<double> self_pct, child_pct, self_us, p50, p99, mx;
  try {
    for (int r = 1; r <= rounds; ++r) {
      const Figures f = measure(n, every, window, command, concurrency);
      const double runs = std::max(1.0, f.expected_runs);
      self_pct.push_back(f.check.self / f.window_s * 100);
      child_pct.push_back(f.check.children / f.window_s * 100);
      self_us.push_back(f.check.self / runs * 1e6);
      p50.push_back(f.p50);
      p99.push_back(f.p99);
      mx.push_back(f.max);
      std::printf(
          "round %d: ~%.0f runs in %.1fs (%.0f/s)\n"
          "  check process CPU   %5.2f%% of one core, %.0f us per run\n"
          "  its plugins (reaped) %5.2f%% of one core, %.0f us per run\n"
          "  hub CPU             %5.2f%% of one core\n"
          "  start lateness (whole run, %ld runs): p50 %.1fms p99 %.1fms max %.1fms; %ld "
          "skipped, %ld missed\n",
          r, f.expected_runs, f.window_s, f.expected_runs / f.window_s, self_pct.back(),
          self_us.back(), child_pct.back(), f.check.children / runs * 1e6,
          f.hub.self / f.window_s * 100, f.runs, f.p50, f.p99, f.max, f.skipped, f.missed);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checks: %s\n", e.what());
    return 1;
  }
  if (rounds > 1) {
    std::printf(
        "median: check process %.2f%% (%.0f us/run), plugins %.2f%%; start lateness p50 %.1fms "
        "p99 %.1fms max %.1fms\n",
        rb::median(self_pct), rb::median(self_us), rb::median(child_pct), rb::median(p50),
        rb::median(p99), rb::median(mx));
  }
  return 0;
}
