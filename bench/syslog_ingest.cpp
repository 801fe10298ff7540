// syslog_ingest: the same N RFC 5424 messages of about 100 bytes, octet-counted over one TCP
// connection, into (a) a private rsyslog (imtcp -> omfile) and (b) ds_receive -> hub -> the
// operator log, journal sync on; the clock runs from the first byte sent until the last line
// is in the file. Beside them, in the same round: the raw loopback TCP rate (a reader that
// only counts bytes), ds_receive's parsing alone (in this process, no sockets, no hub), and
// the hub run with journal sync off, to show where reporthub's time goes.
#include "bench/support.h"

#include "config/config.h"
#include "inputs/ds_receive/framer.h"
#include "inputs/ds_receive/ingest.h"
#include "tests/support/net.h"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

namespace rb = reporthub::bench;
namespace ds = reporthub::inputs::ds_receive;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// N messages, each "LEN SP MSG" (RFC 6587 octet counting), MSG an RFC 5424 line of about
// 100 bytes as a web server's access log would send it.
std::string generate(std::size_t n, std::size_t& msg_bytes) {
  std::string out;
  out.reserve(n * 110);
  static const char* kPaths[] = {"/index.html", "/api/v1/items", "/login", "/static/app.js"};
  char msg[256];
  msg_bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int len = std::snprintf(
        msg, sizeof msg,
        "<134>1 2026-11-22T08:%02zu:%02zu.%06zuZ web01 nginx 4242 ACCESS - GET %s %d %07zu "
        "curl/7.88.1",
        (i / 60000) % 60, (i / 1000) % 60, i % 1'000'000, kPaths[i % 4], i % 50 ? 200 : 404, i);
    out += std::to_string(len);
    out += ' ';
    out.append(msg, static_cast<std::size_t>(len));
    msg_bytes += static_cast<std::size_t>(len);
  }
  return out;
}

// Sends `data` over a new connection to 127.0.0.1:port in 64 KiB writes; returns when all of
// it is written (the receiver may still be reading).
void sendAll(int port, const std::string& data) {
  const int fd = reporthub::test::connectTcp(port);
  if (fd < 0) throw std::runtime_error("cannot connect to port " + std::to_string(port));
  std::size_t at = 0;
  while (at < data.size()) {
    const ssize_t n =
        send(fd, data.data() + at, std::min<std::size_t>(64 << 10, data.size() - at), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      throw std::runtime_error(std::string("send: ") + strerror(errno));
    }
    at += static_cast<std::size_t>(n);
  }
  close(fd);
}

struct Run {
  double seconds = 0;
  double cpu_receiver = 0;  // rsyslog, or ds_receive
  double cpu_hub = 0, cpu_local = 0;
};

// From the first byte sent until `file` holds `n` lines; `pids` are sampled for CPU.
Run timeToFile(int port, const std::string& data, std::size_t n, const fs::path& file,
               const std::vector<pid_t>& pids) {
  std::vector<double> cpu0;
  for (pid_t p : pids)
    cpu0.push_back(rb::cpuSeconds(p));
  rb::LogTail tail(file);
  std::exception_ptr failed;
  const auto t0 = rb::Clock::now();
  std::thread sender([&] {
    try {
      sendAll(port, data);
    } catch (...) {
      failed = std::current_exception();
    }
  });
  const bool done = rb::waitFor([&] { return failed || tail.poll() >= n; }, 300s, 1ms);
  Run r;
  r.seconds = rb::secondsSince(t0);
  sender.join();
  if (failed) std::rethrow_exception(failed);
  if (!done) {
    throw std::runtime_error(file.filename().string() + " holds " + std::to_string(tail.lines()) +
                             " of " + std::to_string(n) + " lines after 5 minutes");
  }
  std::vector<double*> out{&r.cpu_receiver, &r.cpu_hub, &r.cpu_local};
  for (std::size_t i = 0; i < pids.size() && i < out.size(); ++i)
    *out[i] = rb::cpuSeconds(pids[i]) - cpu0[i];
  return r;
}

// (a) rsyslog as a distribution ships it for TCP -> file: imtcp, the default main queue,
// omfile with its default template; a ruleset of its own so that rsyslog's own start-up
// messages stay out of the file.
Run rsyslog(const std::string& data, std::size_t n) {
  rb::TempDir dir;
  const int port = reporthub::test::freePort();
  const auto out = dir.path() / "rsyslog-out.log";
  fs::create_directories(dir.path() / "work");
  std::ofstream(dir.path() / "rsyslog.conf")
      << "global(workDirectory=\"" << (dir.path() / "work").string() << "\")\n"
      << "module(load=\"imtcp\")\n"
      << "ruleset(name=\"bench\") {\n  action(type=\"omfile\" file=\"" << out.string() << "\")\n}\n"
      << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << port << "\" ruleset=\"bench\")\n";
  rb::Child proc({"/usr/sbin/rsyslogd", "-n", "-C", "-f", (dir.path() / "rsyslog.conf").string(),
                  "-i", (dir.path() / "rsyslog.pid").string()},
                 dir.path() / "rsyslog.stdout", dir.path() / "rsyslog.stderr");
  if (!rb::waitFor([&] { return reporthub::test::tcpAccepting(port); }, 20s, 5ms)) {
    throw std::runtime_error("rsyslogd did not listen: " +
                             rb::readFile(dir.path() / "rsyslog.stderr"));
  }
  const Run r = timeToFile(port, data, n, out, {proc.pid()});
  proc.kill();
  return r;
}

// (b) ds_receive -> hub -> local's operator log.
Run hubRun(const std::string& data, std::size_t n, bool sync) {
  const int port = reporthub::test::freePort();
  rb::Hub hub(std::string(sync ? "" : "journal: { sync: off }\n") +
              "inputs:\n  ds_receive:\n    listen: \"tcp://127.0.0.1:" + std::to_string(port) +
              "\"\n");
  hub.start();
  const Run r = timeToFile(port, data, n, hub.operatorLog(),
                           {hub.processPid("ds_receive"), hub.pid(), hub.processPid("local")});
  hub.stop();
  return r;
}

// The raw limit: the same bytes over loopback TCP into a reader that only counts them.
double rawTcp(const std::string& data) {
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(lfd, 1) != 0 || getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("raw TCP: cannot listen");
  }
  std::atomic<std::size_t> got{0};
  std::thread reader([&] {
    const int fd = accept(lfd, nullptr, nullptr);
    std::vector<char> buf(256 << 10);
    for (;;) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    close(fd);
  });
  const auto t0 = rb::Clock::now();
  sendAll(ntohs(addr.sin_port), data);
  reader.join();
  close(lfd);
  const double s = rb::secondsSince(t0);
  if (got != data.size()) throw std::runtime_error("raw TCP: bytes lost");
  return s;
}

// ds_receive's framing, parsing, mapping and encoding alone, in this process.
struct Count : ds::Submitter {
  std::size_t n = 0, bytes = 0;
  bool hasCredit() override { return true; }
  void submit(std::string_view, std::string_view, std::string_view body) override {
    ++n;
    bytes += body.size();
  }
};
struct Parsing {
  double seconds = 0;
  std::size_t reports = 0;
  double body_bytes = 0;
};
Parsing parseAlone(const std::string& data) {
  reporthub::config::DsReceiveInput cfg;
  Count count;
  ds::Ingest ingest(cfg, "bench", count);
  struct Sink : ds::FrameSink {
    ds::Ingest* ingest;
    bool accepting() override { return true; }
    // ds_receive reads the clock once per socket read; one reading serves here.
    void message(std::string_view m) override { ingest->message(m, "127.0.0.1:40000", now); }
    std::int64_t now = reporthub::nowNs();
    void refused(ds::Refusal, std::string_view) override {}
  } sink;
  sink.ingest = &ingest;
  ds::Framer framer(cfg.max_message);
  const auto t0 = rb::Clock::now();
  framer.feed(data, sink);
  framer.finish(sink);
  Parsing p;
  p.seconds = rb::secondsSince(t0);
  p.reports = count.n;
  p.body_bytes = count.n ? static_cast<double>(count.bytes) / static_cast<double>(count.n) : 0;
  return p;
}

double rate(std::size_t n, double s) {
  return static_cast<double>(n) / s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "reporthub syslog ingest benchmark: the same RFC 5424 messages over TCP into rsyslog "
      "(imtcp -> file) and into ds_receive -> hub -> operator log"};
  std::size_t n = 1'000'000;
  int rounds = 3;
  bool no_variants = false;
  app.add_option("-n", n, "messages per run")->default_val(n);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_flag("--no-variants", no_variants,
               "only rsyslog and reporthub with sync on (no raw TCP, parsing alone, sync off)");
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  spdlog::set_level(spdlog::level::warn);
  try {
    std::size_t msg_bytes = 0;
    const std::string data = generate(n, msg_bytes);
    std::printf(
        "syslog_ingest: %zu RFC 5424 messages of %.0f bytes (octet-counted, %.1f MB) over one "
        "loopback TCP connection, %d rounds; first byte sent -> last line in the file\n",
        n, static_cast<double>(msg_bytes) / static_cast<double>(n),
        static_cast<double>(data.size()) / 1e6, rounds);
    std::vector<double> rs, rh, rh_off, raw, parse, ratio;
    for (int i = 1; i <= rounds; ++i) {
      std::printf("round %d:\n", i);
      if (!no_variants) {
        const double s = rawTcp(data);
        raw.push_back(rate(n, s));
        std::printf("  raw loopback TCP, reader counts bytes:       %8.0fk msgs/s (%.0f MB/s)\n",
                    raw.back() / 1e3, static_cast<double>(data.size()) / s / 1e6);
        const Parsing p = parseAlone(data);
        if (p.reports != n) std::printf("  warning: parsing alone made %zu reports\n", p.reports);
        parse.push_back(rate(n, p.seconds));
        std::printf(
            "  ds_receive parsing alone (in process):      %8.0fk msgs/s (%.2f us per message, "
            "report body %.0f bytes)\n",
            parse.back() / 1e3, p.seconds / static_cast<double>(n) * 1e6, p.body_bytes);
      }
      // Alternate which goes first, so neither always gets the cooler machine.
      Run a, b;
      if (i % 2) {
        a = rsyslog(data, n);
        b = hubRun(data, n, true);
      } else {
        b = hubRun(data, n, true);
        a = rsyslog(data, n);
      }
      rs.push_back(rate(n, a.seconds));
      rh.push_back(rate(n, b.seconds));
      ratio.push_back(rh.back() / rs.back());
      const double us = 1e6 / static_cast<double>(n);
      std::printf("  (a) rsyslog imtcp -> omfile:                %8.0fk msgs/s | CPU %.2f us/msg\n",
                  rs.back() / 1e3, a.cpu_receiver * us);
      std::printf(
          "  (b) ds_receive -> hub -> operator log, sync on: %5.0fk msgs/s | CPU ds_receive %.2f, "
          "hub %.2f, local %.2f us/msg\n",
          rh.back() / 1e3, b.cpu_receiver * us, b.cpu_hub * us, b.cpu_local * us);
      std::printf("  reporthub/rsyslog: %.2f\n", ratio.back());
      if (!no_variants) {
        const Run c = hubRun(data, n, false);
        rh_off.push_back(rate(n, c.seconds));
        std::printf(
            "  (b') the same with journal sync off:       %8.0fk msgs/s | CPU ds_receive %.2f, "
            "hub %.2f, local %.2f us/msg\n",
            rh_off.back() / 1e3, c.cpu_receiver * us, c.cpu_hub * us, c.cpu_local * us);
      }
    }
    std::printf(
        "median over %d rounds: rsyslog %.0fk msgs/s, reporthub (sync on) %.0fk msgs/s, "
        "reporthub/rsyslog %.2f (goal >= 1.00: %s)\n",
        rounds, rb::median(rs) / 1e3, rb::median(rh) / 1e3, rb::median(ratio),
        rb::median(ratio) >= 1.0 ? "met" : "not met");
    if (!no_variants) {
      std::printf(
          "  raw loopback TCP %.0fk msgs/s, ds_receive parsing alone %.0fk msgs/s, reporthub "
          "with sync off %.0fk msgs/s\n",
          rb::median(raw) / 1e3, rb::median(parse) / 1e3, rb::median(rh_off) / 1e3);
    }
  } catch (const rb::Interrupted&) {
    std::fprintf(stderr, "syslog_ingest: interrupted\n");
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "syslog_ingest: %s\n", e.what());
    return 1;
  }
  return 0;
}
