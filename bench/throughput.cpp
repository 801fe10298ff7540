// throughput: N reports of ~200 bytes from a load generator (an attached input speaking the
// child protocol) through a real hub to lines in the operator log, beside the raw ZeroMQ ipc
// PUSH/PULL rate for N messages of the same size measured in the same run. The hub runs
// durable (journal.sync on: acknowledged after fdatasync) and non-durable (sync off:
// acknowledged after write()) in each round. Prints accepted and delivered rates and their
// ratios per round, then the medians beside the goals.
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
  double credit_wait = 0;     // share of the submit phase the generator waited for credit
  // CPU per report (user + system, all threads), which the machine's other load does not
  // inflate the way it does wall time.
  double hub_cpu_us = 0, local_cpu_us = 0, gen_cpu_us = 0;
  double hub_peak_mib = 0;  // VmHWM of the hub after the run
};

HubFigures hubRate(std::size_t n, std::size_t size, bool json, bool sync, int inputs) {
  rb::Hub hub(std::string("shutdown: { kill_timeout: 30s }\n") +
              (sync ? "" : "journal: { sync: off }\n") +
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
    // Several inputs, one thread: each report goes to the next input that has credit (each
    // may have 4096 unacknowledged), and to the next in turn, waiting, if none has.
    std::vector<std::unique_ptr<rb::Generator>> gens;
    for (int g = 0; g < inputs; ++g)
      gens.push_back(
          std::make_unique<rb::Generator>(hub.childEndpoint(), "bench-" + std::to_string(g + 1)));
    reporthub::Report r = rb::makeReport(size);
    std::size_t turn = 0;
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      r.id = reporthub::newReportId();  // same length every time: the size does not change
      r.ts_ns = reporthub::nowNs();
      std::size_t pick = turn;
      for (std::size_t k = 0; k < gens.size(); ++k) {
        if (gens[(turn + k) % gens.size()]->hasCredit()) {
          pick = (turn + k) % gens.size();
          break;
        }
      }
      gens[pick]->submit(r);
      turn = (pick + 1) % gens.size();
    }
    const double submit_s = rb::secondsSince(t0);
    double credit_wait_s = 0;
    for (auto& gen : gens) {
      gen->waitAcked(120s);
      credit_wait_s += gen->creditWaitSeconds();
    }
    const double accepted_s = rb::secondsSince(t0);
    f.accepted_rate = static_cast<double>(n) / accepted_s;
    f.early_rate = static_cast<double>(tail.poll()) / accepted_s;
    f.credit_wait = credit_wait_s / submit_s;
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

// Per-round figures of one journal mode (sync on or off), kept for the medians.
struct Series {
  explicit Series(const char* l) : label(l) {}
  const char* label;
  std::vector<double> delivered, accepted, early, credit_wait, hub_cpu, local_cpu, gen_cpu, peak;
  void add(const HubFigures& f) {
    delivered.push_back(f.delivered_rate);
    accepted.push_back(f.accepted_rate);
    early.push_back(f.early_rate);
    credit_wait.push_back(f.credit_wait);
    hub_cpu.push_back(f.hub_cpu_us);
    local_cpu.push_back(f.local_cpu_us);
    gen_cpu.push_back(f.gen_cpu_us);
    peak.push_back(f.hub_peak_mib);
  }
  void print(const char* prefix, std::size_t i) const {
    std::printf(
        "%s%-22s accepted %s, delivered to the operator log %s (%s by acceptance) | generator "
        "waited for credit %.0f%% of its submit time\n"
        "%-30s CPU per report: hub %.2f us, local %.2f us, generator %.2f us | hub peak RSS %.0f "
        "MiB\n",
        prefix, label, rate(accepted[i]).c_str(), rate(delivered[i]).c_str(),
        rate(early[i]).c_str(), 100 * credit_wait[i], "", hub_cpu[i], local_cpu[i], gen_cpu[i],
        peak[i]);
  }
  HubFigures medians() const {
    return {rb::median(delivered),   rb::median(accepted), rb::median(early),
            rb::median(credit_wait), rb::median(hub_cpu),  rb::median(local_cpu),
            rb::median(gen_cpu),     rb::median(peak)};
  }
};

std::vector<double> ratios(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    r.push_back(a[i] / b[i]);
  return r;
}

const char* verdict(bool met) {
  return met ? "met" : "NOT met";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub throughput benchmark"};
  std::size_t n = 1'000'000, size = 200;
  int rounds = 3, inputs = 1;
  bool json = false;
  std::string sync = "both", raw_sink;
  app.add_option("-n,--count", n, "reports (and raw messages) per round")->default_val(n);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_option("--sync", sync,
                 "journal.sync of the hub: on (durable), off (acknowledged after write()), or "
                 "both in each round")
      ->default_val(sync)
      ->check(CLI::IsMember({"on", "off", "both"}));
  app.add_option("--inputs", inputs,
                 "attached inputs the reports are spread over (each has its own credit window)")
      ->default_val(inputs)
      ->check(CLI::Range(1, 64));
  app.add_flag("--json", json, "operator log in JSON (outputs.local.format: json)");
  app.add_option("--raw-sink", raw_sink)->group("");  // internal: the raw receiving process
  CLI11_PARSE(app, argc, argv);
  if (!raw_sink.empty()) return rawSink(raw_sink, n);

  rb::installInterruptHandler();
  const bool run_on = sync != "off", run_off = sync != "on";
  std::printf(
      "throughput: %zu reports of %zu bytes per round, %d rounds, operator log as %s, journal "
      "sync %s, %d input%s\n",
      n, size, rounds, json ? "json" : "text", sync.c_str(), inputs, inputs == 1 ? "" : "s");
  std::vector<double> raws;
  Series on{"durable (sync on):"}, off{"non-durable (sync off):"};
  try {
    for (int i = 1; i <= rounds; ++i) {
      const auto k = static_cast<std::size_t>(i - 1);
      raws.push_back(rawRate(n, size));
      // Alternate which mode goes first, so neither always runs on a warmer (or busier) machine.
      for (const bool sync_on : {i % 2 == 1, i % 2 == 0}) {
        if (sync_on && run_on) on.add(hubRate(n, size, json, true, inputs));
        if (!sync_on && run_off) off.add(hubRate(n, size, json, false, inputs));
      }
      std::printf("round %d: raw zmq ipc PUSH/PULL %s\n", i, rate(raws.back()).c_str());
      if (run_on) on.print("         ", k);
      if (run_off) off.print("         ", k);
      if (run_on) {
        std::printf("         durable/raw: accepted %.1f%%, delivered %.1f%%",
                    100 * on.accepted[k] / raws[k], 100 * on.delivered[k] / raws[k]);
        if (run_off) {
          std::printf(" | durable/non-durable: accepted %.1f%%, delivered %.1f%%",
                      100 * on.accepted[k] / off.accepted[k],
                      100 * on.delivered[k] / off.delivered[k]);
        }
        std::printf("\n");
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "throughput: %s\n", e.what());
    return 1;
  }
  std::printf("median over %d rounds: raw zmq ipc PUSH/PULL %s\n", rounds,
              rate(rb::median(raws)).c_str());
  for (const Series* s : {&on, &off}) {
    if (s->accepted.empty()) continue;
    const HubFigures m = s->medians();
    std::printf(
        "  %-24s accepted %s, delivered %s | hub/raw: accepted %.1f%%, delivered %.1f%% (goal "
        ">= 10%%) | CPU per report: hub %.2f us, local %.2f us, generator %.2f us | credit wait "
        "%.0f%% | hub peak RSS %.0f MiB\n",
        s->label, rate(m.accepted_rate).c_str(), rate(m.delivered_rate).c_str(),
        100 * rb::median(ratios(s->accepted, raws)), 100 * rb::median(ratios(s->delivered, raws)),
        m.hub_cpu_us, m.local_cpu_us, m.gen_cpu_us, 100 * m.credit_wait, m.hub_peak_mib);
  }
  if (run_on) {
    const double acc = rb::median(on.accepted), del = rb::median(on.delivered);
    std::printf("goal: durable >= 100k reports/s: accepted %s %s, delivered %s %s\n",
                rate(acc).c_str(), verdict(acc >= 100'000), rate(del).c_str(),
                verdict(del >= 100'000));
    if (run_off) {
      const double acc_r = rb::median(ratios(on.accepted, off.accepted)),
                   del_r = rb::median(ratios(on.delivered, off.delivered));
      std::printf(
          "goal: durable >= 50%% of non-durable: accepted %.1f%% %s, delivered %.1f%% %s "
          "(medians of the per-round ratios)\n",
          100 * acc_r, verdict(acc_r >= 0.5), 100 * del_r, verdict(del_r >= 0.5));
    }
  }
  return 0;
}
