// throughput: N reports of ~200 bytes from a load generator (an attached input speaking the
// child protocol) through a real hub to lines in the operator log, beside the raw ZeroMQ ipc
// PUSH/PULL rate for N messages of the same size measured in the same run. Prints both
// rates and their ratio per round, then the medians.
#include "bench/support.h"

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace rb = reporthub::bench;
using namespace std::chrono_literals;

namespace {

std::int64_t monotonicNs() {
  // steady_clock is CLOCK_MONOTONIC: one clock for every process on the machine, so the
  // sink's arrival time and the sender's start time can be subtracted.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(rb::Clock::now().time_since_epoch())
      .count();
}

std::string selfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe failed");
  return std::string(buf, static_cast<std::size_t>(n));
}

// The receiving process of the raw measurement: says "ready" after the warm-up message,
// then prints the monotonic time at which the last of `n` messages arrived.
int rawSink(const std::string& endpoint, std::size_t n) {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  pull.connect(endpoint);
  zmq::message_t msg;
  (void)pull.recv(msg);
  std::printf("ready\n");
  std::fflush(stdout);
  for (std::size_t i = 0; i < n; ++i)
    (void)pull.recv(msg);
  std::printf("%lld\n", static_cast<long long>(monotonicNs()));
  return 0;
}

// Messages per second from the first send here to the last arrival in a separate process.
double rawRate(std::size_t n, std::size_t size) {
  rb::TempDir tmp;
  const std::string endpoint = "ipc://" + (tmp.path() / "raw.sock").string();
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::sndtimeo, 10'000);
  push.bind(endpoint);
  const auto out = tmp.path() / "sink.out";
  rb::Child sink({selfExe(), "--raw-sink", endpoint, "-n", std::to_string(n)}, out,
                 tmp.path() / "sink.err");
  auto readOut = [&] {
    std::ifstream in(out);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
    return lines;
  };
  if (!push.send(zmq::str_buffer("warm-up"))) throw std::runtime_error("raw sink did not connect");
  if (!rb::waitFor([&] { return !readOut().empty(); }, 10s))
    throw std::runtime_error("raw sink did not get the warm-up message");

  const std::string payload(size, 'x');
  const std::int64_t t0 = monotonicNs();
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 65536 == 0) rb::throwIfInterrupted();
    if (!push.send(zmq::buffer(payload))) throw std::runtime_error("raw send timed out");
  }
  if (sink.wait(120s) != 0) throw std::runtime_error("raw sink failed or timed out");
  const auto lines = readOut();
  if (lines.size() < 2) throw std::runtime_error("raw sink printed no end time");
  const double secs = static_cast<double>(std::stoll(lines[1]) - t0) / 1e9;
  return static_cast<double>(n) / secs;
}

struct HubFigures {
  double delivered_rate = 0;  // first submit -> n-th line in the operator log
  double accepted_rate = 0;   // first submit -> the hub acknowledged all n
  double early_rate = 0;      // lines in the operator log by then, per second
  // CPU per report (user + system, all threads), which the machine's other load does not
  // inflate the way it does wall time.
  double hub_cpu_us = 0, local_cpu_us = 0, gen_cpu_us = 0;
  double hub_peak_mib = 0;  // VmHWM of the hub after the run
};

HubFigures hubRate(std::size_t n, std::size_t size, bool json) {
  rb::Hub hub(std::string("shutdown: { kill_timeout: 30s }\n") +
              "outputs:\n  local: { file: var/operator.log" + (json ? ", format: json" : "") +
              " }\n"
              "recipients:\n  operator: local\n"
              "categories:\n  BENCH: [operator]\n  default: [operator]\n");
  hub.start();
  const pid_t local = hub.processPid("local");
  rb::LogTail tail(hub.operatorLog());
  HubFigures f;
  const double hub_cpu0 = rb::cpuSeconds(hub.pid()), local_cpu0 = rb::cpuSeconds(local),
               gen_cpu0 = rb::cpuSeconds(getpid());
  {
    rb::Generator gen(hub.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      r.id = reporthub::newReportId();  // same length every time: the size does not change
      r.ts_ns = reporthub::nowNs();
      gen.submit(r);
    }
    gen.waitAcked(120s);
    const double accepted_s = rb::secondsSince(t0);
    f.accepted_rate = static_cast<double>(n) / accepted_s;
    f.early_rate = static_cast<double>(tail.poll()) / accepted_s;
    if (!rb::waitFor([&] { return tail.poll() >= n; }, 300s, 500us)) {
      throw std::runtime_error("only " + std::to_string(tail.lines()) + " of " + std::to_string(n) +
                               " lines reached the operator log");
    }
    f.delivered_rate = static_cast<double>(n) / rb::secondsSince(t0);
  }
  const double per_report_us = 1e6 / static_cast<double>(n);
  f.hub_cpu_us = (rb::cpuSeconds(hub.pid()) - hub_cpu0) * per_report_us;
  f.local_cpu_us = (rb::cpuSeconds(local) - local_cpu0) * per_report_us;
  f.gen_cpu_us = (rb::cpuSeconds(getpid()) - gen_cpu0) * per_report_us;
  f.hub_peak_mib = static_cast<double>(rb::statusKib(hub.pid(), "VmHWM")) / 1024;
  hub.stop();
  if (tail.poll() != n)
    std::fprintf(stderr, "warning: the operator log has %zu lines, expected %zu\n", tail.lines(),
                 n);
  return f;
}

std::string rate(double per_s) {
  char buf[32];
  if (per_s >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM/s", per_s / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fk/s", per_s / 1e3);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub throughput benchmark"};
  std::size_t n = 1'000'000, size = 200;
  int rounds = 3;
  bool json = false;
  std::string raw_sink;
  app.add_option("-n,--count", n, "reports (and raw messages) per round")->default_val(n);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_flag("--json", json, "operator log in JSON (outputs.local.format: json)");
  app.add_option("--raw-sink", raw_sink)->group("");  // internal: the raw receiving process
  CLI11_PARSE(app, argc, argv);
  if (!raw_sink.empty()) return rawSink(raw_sink, n);

  rb::installInterruptHandler();
  std::printf("throughput: %zu reports of %zu bytes per round, %d rounds, operator log as %s\n", n,
              size, rounds, json ? "json" : "text");
  std::vector<double> raws, hubs, accepted, ratios, hub_cpu, local_cpu, gen_cpu, peak;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const double raw = rawRate(n, size);
      const HubFigures hub = hubRate(n, size, json);
      raws.push_back(raw);
      hubs.push_back(hub.delivered_rate);
      accepted.push_back(hub.accepted_rate);
      ratios.push_back(hub.delivered_rate / raw);
      hub_cpu.push_back(hub.hub_cpu_us);
      local_cpu.push_back(hub.local_cpu_us);
      gen_cpu.push_back(hub.gen_cpu_us);
      peak.push_back(hub.hub_peak_mib);
      std::printf(
          "round %d: raw zmq ipc PUSH/PULL %s | hub -> operator log %s (accepted %s, "
          "delivered %s meanwhile) | ratio %.1f%%\n"
          "         CPU per report: hub %.2f us, local %.2f us, generator %.2f us | hub peak "
          "RSS %.0f MiB\n",
          i, rate(raw).c_str(), rate(hub.delivered_rate).c_str(), rate(hub.accepted_rate).c_str(),
          rate(hub.early_rate).c_str(), 100 * ratios.back(), hub.hub_cpu_us, hub.local_cpu_us,
          hub.gen_cpu_us, hub.hub_peak_mib);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "throughput: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median: raw zmq ipc PUSH/PULL %s, hub -> operator log %s (accepted %s), ratio %.1f%% "
      "(goal >= 10%%)\n",
      rate(rb::median(raws)).c_str(), rate(rb::median(hubs)).c_str(),
      rate(rb::median(accepted)).c_str(), 100 * rb::median(ratios));
  std::printf(
      "median: CPU per report: hub %.2f us, local %.2f us, generator %.2f us | hub peak RSS "
      "%.0f MiB\n",
      rb::median(hub_cpu), rb::median(local_cpu), rb::median(gen_cpu), rb::median(peak));
  return 0;
}
