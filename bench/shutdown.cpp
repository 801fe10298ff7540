// shutdown: the resident set of an idle hub and its local output just after start-up (VmRSS
// from /proc/PID/status), then the wall time of `hubctl dmstop --wait` with healthy children
// (the local output and one healthy test input), per round and as medians.
#include "bench/support.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace rb = reporthub::bench;
using namespace std::chrono_literals;

namespace {

struct Figures {
  double hub_rss_mib = 0, local_rss_mib = 0, input_rss_mib = 0;
  double hub_exit_ms = 0;  // `hubctl dmstop --wait` started -> the hub process exited
  double hubctl_ms = 0;    // `hubctl dmstop --wait` started -> it returned
};

double mib(long kib) {
  return kib < 0 ? -1 : static_cast<double>(kib) / 1024;
}

Figures measure() {
  rb::Hub hub(
      "shutdown: { kill_timeout: 30s }\n"
      "inputs:\n  testproc:\n    - { name: idle, mode: healthy }\n"
      "outputs:\n  local: { file: var/operator.log }\n"
      "recipients:\n  operator: local\n"
      "categories:\n  default: [operator]\n");
  hub.start();  // returns once every child reported ready
  Figures f;
  f.hub_rss_mib = mib(rb::statusKib(hub.pid()));
  f.local_rss_mib = mib(rb::statusKib(hub.processPid("local")));
  f.input_rss_mib = mib(rb::statusKib(hub.processPid("testproc:idle")));

  const auto t0 = rb::Clock::now();
  rb::Child hubctl(hub.hubctlArgv({"dmstop", "--wait"}), hub.dir() / "dmstop.out",
                   hub.dir() / "dmstop.err");
  if (const int code = hub.wait(30s); code != 0) {
    throw std::runtime_error(
        "after DMStop the hub " +
        (code < 0 ? "was still running" : "exited with " + std::to_string(code)) +
        "; its stderr:\n" + hub.stderrText());
  }
  f.hub_exit_ms = rb::secondsSince(t0) * 1e3;
  if (hubctl.wait(30s) != 0) throw std::runtime_error("hubctl dmstop --wait failed");
  f.hubctl_ms = rb::secondsSince(t0) * 1e3;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub shutdown and memory benchmark"};
  int rounds = 5;
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  std::printf("shutdown: idle RSS after start-up and DMStop wall time, %d rounds\n", rounds);
  std::vector<double> hub_rss, local_rss, input_rss, hub_exit, hubctl;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures f = measure();
      hub_rss.push_back(f.hub_rss_mib);
      local_rss.push_back(f.local_rss_mib);
      input_rss.push_back(f.input_rss_mib);
      hub_exit.push_back(f.hub_exit_ms);
      hubctl.push_back(f.hubctl_ms);
      std::printf(
          "round %d: idle RSS hub %.1f MiB, local %.1f MiB, test input %.1f MiB | DMStop: hub "
          "exited after %.1f ms, hubctl dmstop --wait returned after %.1f ms\n",
          i, f.hub_rss_mib, f.local_rss_mib, f.input_rss_mib, f.hub_exit_ms, f.hubctl_ms);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shutdown: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median: idle RSS hub %.1f MiB, local %.1f MiB, test input %.1f MiB | DMStop: hub exited "
      "after %.1f ms, hubctl dmstop --wait %.1f ms\n",
      rb::median(hub_rss), rb::median(local_rss), rb::median(input_rss), rb::median(hub_exit),
      rb::median(hubctl));
  return 0;
}
