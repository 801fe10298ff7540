// ds_send: how fast reports reach a syslog server. N reports routed to a `ds_send` recipient
// go from a load generator through a real hub and ds_send into a private rsyslogd (imtcp ->
// omfile), timed to the N-th line in rsyslog's file. For reference, in the same round, the
// same rsyslogd setup's own intake: the same RFC 5424 frames, formatted in this process,
// written straight to its imtcp over one TCP connection.
#include "bench/support.h"

#include "outputs/ds_send/rfc5424.h"
#include "tests/support/net.h"
#include "tests/support/syslog_server.h"

#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace rb = reporthub::bench;
namespace dss = reporthub::outputs::ds_send;
using namespace std::chrono_literals;

namespace {

// A short template: rsyslog's file writing should cost the same in both runs, and little.
constexpr const char* kTemplate = "%msgid% %msg%\\n";

struct Figures {
  double rate = 0;         // reports/s to the N-th line at the server
  double ds_send_cpu = 0;  // us per report
  double server_cpu = 0;   // us per report
};

// Waits for `n` lines in the server's file; returns the seconds since t0.
double waitLines(const reporthub::test::SyslogServer& server, std::size_t n,
                 rb::Clock::time_point t0) {
  rb::LogTail tail(server.output());
  if (!rb::waitFor([&] { return tail.poll() >= n; }, 600s, 200us)) {
    throw std::runtime_error("only " + std::to_string(tail.lines()) + " of " + std::to_string(n) +
                             " messages reached rsyslog; see " + server.log().string());
  }
  return rb::secondsSince(t0);
}

Figures hubRun(std::size_t n, std::size_t size) {
  reporthub::test::SyslogServer server(kTemplate);
  rb::Hub hub("shutdown: { kill_timeout: 30s }\noutputs:\n  ds_send: { target: \"" +
              server.target() +
              "\" }\nrecipients:\n  operator: local\n  syslog: ds_send\n"
              "categories:\n  BENCH: [syslog]\n  default: [operator]\n");
  hub.start();
  const pid_t ds_pid = hub.processPid("ds_send");
  const double cpu0 = rb::cpuSeconds(ds_pid), server_cpu0 = rb::cpuSeconds(server.pid());
  Figures f;
  {
    rb::Generator gen(hub.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      r.id = reporthub::newReportId();
      r.ts_ns = reporthub::nowNs();
      gen.submit(r);
    }
    gen.waitAcked(120s);
    f.rate = static_cast<double>(n) / waitLines(server, n, t0);
  }
  f.ds_send_cpu = (rb::cpuSeconds(ds_pid) - cpu0) * 1e6 / static_cast<double>(n);
  f.server_cpu = (rb::cpuSeconds(server.pid()) - server_cpu0) * 1e6 / static_cast<double>(n);
  hub.stop();
  return f;
}

// rsyslog's own intake of the same frames from one connection, no hub: the ceiling.
Figures rawRun(std::size_t n, std::size_t size) {
  reporthub::test::SyslogServer server(kTemplate);
  reporthub::Report r = rb::makeReport(size);
  r.origin = "alpha";
  r.source = "bench";
  const dss::FormatOptions o;
  // Formatted before the clock starts: the figure is rsyslog's, not the formatter's.
  std::string frames;
  for (std::size_t i = 0; i < n; ++i) {
    r.id = reporthub::newReportId();
    r.ts_ns = reporthub::nowNs();
    dss::FormatNotes notes;
    dss::appendFrame(frames, dss::formatMessage(r, o, notes));
  }
  const int fd = reporthub::test::connectTcp(server.port());
  if (fd < 0) throw std::runtime_error("cannot connect to rsyslog");
  const double server_cpu0 = rb::cpuSeconds(server.pid());
  const auto t0 = rb::Clock::now();
  for (std::size_t off = 0; off < frames.size();) {
    const ssize_t k = ::send(fd, frames.data() + off, frames.size() - off, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw std::runtime_error("send to rsyslog failed");
    }
    off += static_cast<std::size_t>(k);
  }
  Figures f;
  f.rate = static_cast<double>(n) / waitLines(server, n, t0);
  f.server_cpu = (rb::cpuSeconds(server.pid()) - server_cpu0) * 1e6 / static_cast<double>(n);
  ::close(fd);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub ds_send benchmark: reports/s into rsyslog, beside rsyslog's intake"};
  std::size_t n = 200'000, size = 200;
  int rounds = 3;
  app.add_option("-n,--count", n, "reports per round")->default_val(n);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  std::printf(
      "ds_send: %zu reports of %zu bytes per round to [syslog] -> rsyslogd imtcp -> file, "
      "%d rounds\n",
      n, size, rounds);
  std::vector<double> hub_rate, raw_rate, ds_cpu, server_cpu, raw_server_cpu;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures h = hubRun(n, size);
      const Figures raw = rawRun(n, size);
      hub_rate.push_back(h.rate);
      raw_rate.push_back(raw.rate);
      ds_cpu.push_back(h.ds_send_cpu);
      server_cpu.push_back(h.server_cpu);
      raw_server_cpu.push_back(raw.server_cpu);
      std::printf(
          "round %d: hub -> ds_send -> rsyslog %.0f reports/s (ds_send CPU %.2f us, rsyslogd "
          "CPU %.2f us per report) | rsyslog alone, same frames from one connection: %.0f "
          "messages/s (rsyslogd CPU %.2f us) | %.0f%%\n",
          i, h.rate, h.ds_send_cpu, h.server_cpu, raw.rate, raw.server_cpu,
          100 * h.rate / raw.rate);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ds_send: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median over %d rounds: hub -> ds_send -> rsyslog %.0f reports/s (ds_send CPU %.2f us "
      "per report); rsyslog's own intake of the same frames %.0f messages/s; hub/raw %.0f%%\n",
      rounds, rb::median(hub_rate), rb::median(ds_cpu), rb::median(raw_rate),
      100 * rb::median(hub_rate) / rb::median(raw_rate));
  return 0;
}
