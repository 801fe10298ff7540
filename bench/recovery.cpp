// recovery: how long a hub takes to come back from SIGKILL with a backlog in its journal.
// The local output is held down (killed, with a restart policy of one restart an hour), N
// reports are submitted and acknowledged (so they are on disk), the hub is killed with
// SIGKILL, and a hub on a config without the hold-down is started on the same state dir.
// Timed from the SIGKILL to the first `hubctl report` that returns 0, and to the whole
// backlog being in the operator log. Prints the figures per round and their medians.
#include "bench/support.h"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <tuple>

namespace rb = reporthub::bench;
using namespace std::chrono_literals;

namespace {

const std::string kRouting =
    "recipients:\n  operator: local\n"
    "categories:\n  BENCH: [operator]\n  default: [operator]\n";
// One restart at once is not allowed, and the next one an hour later: killed, local stays down.
const std::string kHeldDown =
    "outputs:\n  local: { file: var/operator.log, restart: { immediate: 0, window: 1m, "
    "then_every: 1h } }\n" +
    kRouting;
const std::string kNormal = "outputs:\n  local: { file: var/operator.log }\n" + kRouting;

struct Figures {
  double submit_rate = 0;    // the backlog's submission, until all acknowledged
  double journal_mib = 0;    // the journal's files just before the kill
  double bound_ms = 0;       // SIGKILL -> the new hub bound its control socket
  double accept_ms = 0;      // SIGKILL -> a `hubctl report` on the new hub returned 0
  int attempts = 0;          // `hubctl report` runs until then
  double first_line_ms = 0;  // SIGKILL -> the first backlog line in the operator log
  double backlog_ms = 0;     // SIGKILL -> the whole backlog in the operator log
  double hubctl_ms = 0;      // one `hubctl report` on the running hub: the step of accept_ms
};

double journalMib(const std::filesystem::path& dir) {
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.is_regular_file(ec)) bytes += f.file_size(ec);
  }
  return static_cast<double>(bytes) / (1 << 20);
}

Figures measure(std::size_t n, std::size_t size) {
  rb::Hub hub(kHeldDown);
  hub.start();
  Figures f;
  const auto h0 = rb::Clock::now();
  if (hub.hubctl({"report", "-C", "WARMUP", "before the backlog"}).code != 0)
    throw std::runtime_error("hubctl report failed on the running hub");
  f.hubctl_ms = rb::secondsSince(h0) * 1e3;
  const pid_t local = hub.processPid("local");
  if (local <= 0) throw std::runtime_error("no pid for local in hubctl status");
  ::kill(local, SIGKILL);
  const bool held = rb::waitFor(
      [&] {
        const auto st = hub.status();
        if (!st.is_object()) return false;
        for (const auto& p : st["processes"]) {
          if (p["id"] == "local") return p["state"] == "backoff";
        }
        return false;
      },
      10s, 20ms);
  if (!held) throw std::runtime_error("local did not stay down after SIGKILL");

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
    f.submit_rate = static_cast<double>(n) / rb::secondsSince(t0);
  }
  const auto st = hub.status();
  if (!st.is_object() || st["outputs"].empty() || st["outputs"][0]["backlog"] != n) {
    std::fprintf(stderr, "warning: status does not show a backlog of %zu: %s\n", n,
                 st.is_object() ? st["outputs"].dump().c_str() : "no answer");
  }
  f.journal_mib = journalMib(hub.dir() / "var/journal");

  // Counts the backlog's lines; the restarted hub also logs a notice of its own, and the
  // report accepted after the restart comes after the backlog.
  std::size_t backlog_lines = 0;
  bool recovered_line = false;
  rb::LogTail tail(hub.operatorLog());
  tail.on_line = [&](std::string_view line) {
    if (line.find(" BENCH ") != std::string_view::npos) ++backlog_lines;
    if (line.find(" RECOVERED ") != std::string_view::npos) recovered_line = true;
  };
  hub.writeConfig(kNormal);

  // hubctl runs as a child polled beside the log, so neither waits on the other.
  std::unique_ptr<rb::Child> attempt;
  auto startAttempt = [&] {
    attempt.reset();
    attempt = std::make_unique<rb::Child>(
        hub.hubctlArgv({"report", "-C", "RECOVERED", "first report after the restart"}),
        hub.dir() / "hubctl.out", hub.dir() / "hubctl.err");
    ++f.attempts;
  };
  // The new hub binds its control socket as a new file where the dead hub's one stayed
  // behind; it may get the same inode number, but not the same change time.
  const auto control = hub.dir() / "run/control.sock";
  auto identity = [&] {
    struct stat st {};
    if (stat(control.c_str(), &st) != 0) return std::tuple<ino_t, long, long>{};
    return std::tuple<ino_t, long, long>{st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  };
  const auto old_identity = identity();
  const auto t0 = rb::Clock::now();
  hub.kill();  // SIGKILL to the hub's process group, then reaped
  hub.launch();
  startAttempt();
  bool accepted = false;
  const bool done = rb::waitFor(
      [&] {
        tail.poll();
        if (f.bound_ms == 0 && identity() != old_identity &&
            identity() != std::tuple<ino_t, long, long>{})
          f.bound_ms = rb::secondsSince(t0) * 1e3;
        if (f.first_line_ms == 0 && backlog_lines > 0) f.first_line_ms = rb::secondsSince(t0) * 1e3;
        if (f.backlog_ms == 0 && backlog_lines >= n) f.backlog_ms = rb::secondsSince(t0) * 1e3;
        if (!accepted && !attempt->running()) {
          if (attempt->wait(0ms) == 0) {
            accepted = true;
            f.accept_ms = rb::secondsSince(t0) * 1e3;
          } else {
            startAttempt();
          }
        }
        return accepted && f.backlog_ms > 0;
      },
      300s, 500us);
  attempt.reset();
  if (!done) {
    throw std::runtime_error(std::string(accepted ? "" : "the restarted hub accepted no report; ") +
                             "only " + std::to_string(backlog_lines) + " of " + std::to_string(n) +
                             " backlog lines reached the operator log; the hub's stderr:\n" +
                             hub.stderrText());
  }
  // Once the report accepted after the restart is there, every backlog line is too.
  if (!rb::waitFor([&] { return tail.poll(), recovered_line; }, 30s))
    std::fprintf(stderr, "warning: the report accepted after the restart is not in the log\n");
  hub.stop();
  if (backlog_lines != n)
    std::fprintf(stderr, "warning: %zu backlog lines in the operator log, expected %zu\n",
                 backlog_lines, n);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub recovery benchmark"};
  std::size_t n = 100'000, size = 200;
  int rounds = 3;
  app.add_option("-n,--count", n, "reports in the backlog when the hub is killed")
      ->default_val(n)
      ->check(CLI::Range(1, 1 << 26));
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  std::printf(
      "recovery: SIGKILL of the hub with %zu reports of %zu bytes in the backlog (local held "
      "down), then a restart; %d rounds\n",
      n, size, rounds);
  std::vector<double> bound, accept, first, backlog, journal, submit, hubctl;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures f = measure(n, size);
      bound.push_back(f.bound_ms);
      accept.push_back(f.accept_ms);
      first.push_back(f.first_line_ms);
      backlog.push_back(f.backlog_ms);
      journal.push_back(f.journal_mib);
      submit.push_back(f.submit_rate);
      hubctl.push_back(f.hubctl_ms);
      std::printf(
          "round %d: backlog submitted at %.1fk/s, journal %.1f MiB | after SIGKILL: control "
          "socket bound %.0f ms, new report accepted %.0f ms (%d hubctl runs; one takes %.0f ms on "
          "a running hub), first backlog line %.0f ms, whole backlog in the operator log %.0f ms\n",
          i, f.submit_rate / 1e3, f.journal_mib, f.bound_ms, f.accept_ms, f.attempts, f.hubctl_ms,
          f.first_line_ms, f.backlog_ms);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recovery: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median: SIGKILL -> control socket bound %.0f ms, -> new report accepted %.0f ms (hubctl "
      "report on a running hub %.0f ms), -> first backlog line %.0f ms, -> whole backlog of %zu "
      "in the operator log %.0f ms (%.1fk reports/s replayed) | journal %.1f MiB\n",
      rb::median(bound), rb::median(accept), rb::median(hubctl), rb::median(first), n,
      rb::median(backlog), static_cast<double>(n) / (rb::median(backlog) - rb::median(first)),
      rb::median(journal));
  return 0;
}
