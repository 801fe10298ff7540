// ns_link: hub-to-hub forwarding throughput. Two real hubs on loopback: a load generator (an
// attached input) submits N reports at the site, whose category goes to {node: hq}; ns_send
// forwards them to hq's ns_receive over TCP. Measured from the first submit until the site's
// status shows all N acknowledged by the link (hq journaled them, fdatasync on, and told the
// site, which journaled that), and until all N are lines in hq's operator log. Plain and CURVE,
// each beside the raw ZeroMQ TCP DEALER -> ROUTER rate (same frames, same security) measured
// in the same round. Prints per-round figures and medians.
#include "bench/support.h"
#include "common/curve.h"
#include "common/wire.h"
#include "tests/support/net.h"

#include <zmq.h>
#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace rb = reporthub::bench;
namespace curve = reporthub::curve;
using namespace std::chrono_literals;

namespace {

std::int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(rb::Clock::now().time_since_epoch())
      .count();
}

std::string selfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe failed");
  return std::string(buf, static_cast<std::size_t>(n));
}

// The raw measurement's receiving process: a ROUTER on the port (a CURVE server if a secret
// key is given), "ready" after the warm-up message, then the monotonic time the n-th arrived.
int rawSink(int port, std::size_t n, const std::string& secret) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  if (!secret.empty()) {
    router.set(zmq::sockopt::curve_server, 1);
    zmq_setsockopt(router.handle(), ZMQ_CURVE_SECRETKEY, secret.c_str(), 41);
  }
  router.bind("tcp://127.0.0.1:" + std::to_string(port));
  std::vector<zmq::message_t> frames;
  auto recvOne = [&] {
    for (;;) {
      zmq::message_t m;
      (void)router.recv(m);
      if (!m.more()) return;
    }
  };
  recvOne();
  std::printf("ready\n");
  std::fflush(stdout);
  for (std::size_t i = 0; i < n; ++i)
    recvOne();
  std::printf("%lld\n", static_cast<long long>(monotonicNs()));
  return 0;
}

// Messages per second from a DEALER here to a ROUTER in another process over loopback TCP:
// each message an envelope like ns_send's Submit plus a body of `size` bytes.
double rawRate(std::size_t n, std::size_t size, const curve::KeyPair* server,
               const curve::KeyPair* client) {
  rb::TempDir tmp;
  const int port = reporthub::test::freePort();
  const auto out = tmp.path() / "sink.out";
  std::vector<std::string> argv{selfExe(), "--raw-sink", std::to_string(port), "-n",
                                std::to_string(n)};
  if (server) {
    argv.push_back("--raw-secret");
    argv.push_back(server->secret_key);
  }
  rb::Child sink(argv, out, tmp.path() / "sink.err");
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::sndtimeo, 10'000);
  if (server) {
    zmq_setsockopt(dealer.handle(), ZMQ_CURVE_SERVERKEY, server->public_key.c_str(), 41);
    zmq_setsockopt(dealer.handle(), ZMQ_CURVE_PUBLICKEY, client->public_key.c_str(), 41);
    zmq_setsockopt(dealer.handle(), ZMQ_CURVE_SECRETKEY, client->secret_key.c_str(), 41);
  }
  if (!rb::waitFor([&] { return reporthub::test::tcpAccepting(port); }, 10s))
    throw std::runtime_error("raw sink did not listen");
  dealer.connect("tcp://127.0.0.1:" + std::to_string(port));
  auto readOut = [&] {
    std::ifstream in(out);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
    return lines;
  };
  if (!dealer.send(zmq::str_buffer("warm-up")))
    throw std::runtime_error("raw sink did not connect");
  if (!rb::waitFor([&] { return !readOut().empty(); }, 10s))
    throw std::runtime_error("raw sink did not get the warm-up message");
  // The size of the envelope ns_send puts before each report.
  const std::string env(
      reporthub::wire::encode(
          reporthub::wire::Submit{1, reporthub::newReportId(), "BENCH", "operator", {"site"}})
          .size(),
      'e');
  const std::string body(size, 'x');
  const std::int64_t t0 = monotonicNs();
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 65536 == 0) rb::throwIfInterrupted();
    if (!dealer.send(zmq::buffer(env), zmq::send_flags::sndmore) ||
        !dealer.send(zmq::buffer(body))) {
      throw std::runtime_error("raw send timed out");
    }
  }
  if (sink.wait(120s) != 0) throw std::runtime_error("raw sink failed or timed out");
  const auto lines = readOut();
  if (lines.size() < 2) throw std::runtime_error("raw sink printed no end time");
  return static_cast<double>(n) / (static_cast<double>(std::stoll(lines[1]) - t0) / 1e9);
}

struct LinkFigures {
  double acked_rate = 0;      // first submit -> the site's link shows all n acknowledged
  double delivered_rate = 0;  // first submit -> n lines in hq's operator log
  double accepted_rate = 0;   // first submit -> the site acknowledged all n to the generator
  // CPU per report (user + system) of each process on the path, in microseconds: on a small
  // machine their sum, not any one of them, bounds the rate.
  std::vector<std::pair<std::string, double>> cpu_us;
};

std::uint64_t linkDelivered(rb::Hub& site) {
  auto st = site.status();
  if (!st.is_object() || !st.contains("links")) return 0;
  for (const auto& l : st["links"]) {
    if (l["node"] == "hq") return l["delivered"].get<std::uint64_t>();
  }
  return 0;
}

LinkFigures linkRate(std::size_t n, std::size_t size, bool with_curve) {
  rb::TempDir keys;
  curve::KeyPair hq_keys = curve::generate(), site_keys = curve::generate();
  std::string hq_curve, site_secret, pinned;
  if (with_curve) {
    if (!curve::writeKeyFiles((keys.path() / "hq").string(), hq_keys).empty() ||
        !curve::writeKeyFiles((keys.path() / "site").string(), site_keys).empty()) {
      throw std::runtime_error("cannot write key files");
    }
    std::ofstream(keys.path() / "clients") << "site " << site_keys.public_key << "\n";
    hq_curve = "    curve: { secret_key: " + (keys.path() / "hq.key").string() +
               ", allowed_clients: " + (keys.path() / "clients").string() + " }\n";
    site_secret = ", secret_key: " + (keys.path() / "site.key").string();
    pinned = ", public_key: '" + hq_keys.public_key + "'";
  }
  const int port = reporthub::test::freePort();
  const std::string address = "tcp://127.0.0.1:" + std::to_string(port);
  rb::Hub hq("shutdown: { kill_timeout: 30s }\ninputs:\n  ns_receive:\n    listen: " + address +
                 "\n" + hq_curve +
                 "recipients:\n  operator: local\ncategories:\n  default: [operator]\n",
             "hq");
  rb::Hub site("shutdown: { kill_timeout: 30s }\noutputs:\n  ns_send: { timeout: 30s" +
                   site_secret + " }\nnodes:\n  hq: { address: '" + address + "'" + pinned +
                   " }\nrecipients:\n  operator: local\n  up: { node: hq, recipient: operator }\n"
                   "categories:\n  BENCH: [up]\n  default: [operator]\n",
               "site");
  hq.start();
  site.start();
  rb::LogTail tail(hq.operatorLog());
  LinkFigures f;
  const std::vector<std::pair<std::string, pid_t>> procs{
      {"site hub", site.pid()},
      {"ns_send", site.processPid("ns_send:hq")},
      {"ns_receive", hq.processPid("ns_receive")},
      {"hq hub", hq.pid()},
      {"hq local", hq.processPid("local")}};
  std::vector<double> cpu0;
  for (const auto& p : procs)
    cpu0.push_back(rb::cpuSeconds(p.second));
  {
    rb::Generator gen(site.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto t0 = rb::Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      r.id = reporthub::newReportId();
      r.ts_ns = reporthub::nowNs();
      gen.submit(r);
    }
    gen.waitAcked(120s);
    f.accepted_rate = static_cast<double>(n) / rb::secondsSince(t0);
    // The log tail is cheap to poll; each status poll runs hubctl, so the status is polled
    // only once hq has every line (its acknowledgements follow within milliseconds).
    if (!rb::waitFor([&] { return tail.poll() >= n; }, 300s, 500us)) {
      throw std::runtime_error("only " + std::to_string(tail.lines()) + " of " + std::to_string(n) +
                               " reports reached hq");
    }
    f.delivered_rate = static_cast<double>(n) / rb::secondsSince(t0);
    if (!rb::waitFor([&] { return linkDelivered(site) >= n; }, 60s, 1ms))
      throw std::runtime_error("the site's link never showed all reports acknowledged");
    f.acked_rate = static_cast<double>(n) / rb::secondsSince(t0);
  }
  for (std::size_t i = 0; i < procs.size(); ++i) {
    f.cpu_us.emplace_back(
        procs[i].first, (rb::cpuSeconds(procs[i].second) - cpu0[i]) * 1e6 / static_cast<double>(n));
  }
  site.stop();
  hq.stop();
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

struct Series {
  std::vector<double> raw, acked, delivered, accepted;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub hub-to-hub (NS) link throughput benchmark"};
  std::size_t n = 200'000, size = 200;
  int rounds = 3;
  std::string security = "both", raw_secret;
  int raw_sink = 0;
  app.add_option("-n,--count", n, "reports (and raw messages) per round")->default_val(n);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_option("--security", security, "plain, curve, or both in each round")
      ->default_val(security)
      ->check(CLI::IsMember({"plain", "curve", "both"}));
  app.add_option("--raw-sink", raw_sink)->group("");  // internal: the raw receiving process
  app.add_option("--raw-secret", raw_secret)->group("");
  CLI11_PARSE(app, argc, argv);
  if (raw_sink > 0) return rawSink(raw_sink, n, raw_secret);

  rb::installInterruptHandler();
  std::printf(
      "ns_link: %zu reports of %zu bytes per round, %d rounds, site -> hq over loopback TCP, "
      "journal sync on at both ends\n"
      "  acknowledged: first submit at the site until its link shows all acknowledged by hq\n"
      "  (hq journaled and fdatasynced them, then told the site, which journaled that)\n",
      n, size, rounds);
  const auto server = curve::generate(), client = curve::generate();
  Series plain, secured;
  try {
    for (int i = 1; i <= rounds; ++i) {
      std::printf("round %d:\n", i);
      for (const bool with_curve : {false, true}) {
        if (with_curve ? security == "plain" : security == "curve") continue;
        Series& s = with_curve ? secured : plain;
        s.raw.push_back(rawRate(n, size, with_curve ? &server : nullptr, &client));
        const LinkFigures f = linkRate(n, size, with_curve);
        s.acked.push_back(f.acked_rate);
        s.delivered.push_back(f.delivered_rate);
        s.accepted.push_back(f.accepted_rate);
        std::printf(
            "  %-6s raw zmq tcp DEALER->ROUTER %s | hub->hub acknowledged %s (%.0f%% of raw), "
            "in hq's operator log %s, accepted at the site %s\n",
            with_curve ? "curve" : "plain", rate(s.raw.back()).c_str(), rate(f.acked_rate).c_str(),
            100 * f.acked_rate / s.raw.back(), rate(f.delivered_rate).c_str(),
            rate(f.accepted_rate).c_str());
        std::printf("         CPU per report:");
        for (const auto& [name, us] : f.cpu_us)
          std::printf(" %s %.2f us", name.c_str(), us);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  } catch (const rb::Interrupted&) {
    std::fprintf(stderr, "interrupted\n");
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ns_link: %s\n", e.what());
    return 1;
  }
  std::printf("medians of %d rounds:\n", rounds);
  for (const bool with_curve : {false, true}) {
    const Series& s = with_curve ? secured : plain;
    if (s.raw.empty()) continue;
    const double acked = rb::median(s.acked);
    std::printf(
        "  %-6s raw %s | acknowledged %s (%.0f%% of raw) | operator log %s | goal >= 100k/s "
        "acknowledged: %s\n",
        with_curve ? "curve" : "plain", rate(rb::median(s.raw)).c_str(), rate(acked).c_str(),
        100 * acked / rb::median(s.raw), rate(rb::median(s.delivered)).c_str(),
        acked >= 100'000 ? "met" : "NOT met");
  }
  return 0;
}
