// End-to-end tests of the syslog receiver (issue 6, DESIGN §1): real senders (`logger`, a
// private rsyslog forwarding with omfwd) into ds_receive under a real hub, checked in the
// operator log; bad input on some connections while good input on others all arrives;
// max_connections; ds.lock held by someone else; DMStop with a client still connected.
#include "common/lock.h"
#include "common/report.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace reporthub::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kLogger = "/usr/bin/logger";
const char* kRsyslogd = "/usr/sbin/rsyslogd";

std::string dsConfig(int port, const std::string& extra = "") {
  return "outputs: { local: { format: json } }\n"
         "inputs:\n"
         "  ds_receive:\n"
         "    listen: \"tcp://127.0.0.1:" +
         std::to_string(port) + "\"\n" + extra;
}

// Starts the hub and waits until ds_receive serves on `port`.
void startServing(Hub& hub, int port) {
  hub.start();
  INFO("hub.log: " << readFile(hub.hubLog()));
  REQUIRE(waitFor([&] { return hub.processStatus("ds_receive")["state"] == "running"; }));
  REQUIRE(waitFor([&] { return tcpAccepting(port); }));
}

std::vector<json> reports(Hub& hub) {
  std::vector<json> out;
  for (const auto& line : readLines(hub.operatorLog())) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j["source"] == "ds") out.push_back(std::move(j));
  }
  return out;
}

// The report whose text is `text` (null if none, or if there are several).
json reportWithText(Hub& hub, const std::string& text) {
  json found;
  int n = 0;
  for (auto& r : reports(hub)) {
    if (r["text"] == text) {
      found = r;
      ++n;
    }
  }
  return n == 1 ? found : json();
}

json waitReport(Hub& hub, const std::string& text) {
  json r;
  waitFor([&] { return !(r = reportWithText(hub, text)).is_null(); }, 10s, 20ms);
  return r;
}

void logger(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kLogger};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = runCommand(argv, 10s);
  INFO("logger: " << r.err);
  REQUIRE(r.code == 0);
}

void sendAll(int fd, const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the peer closed: what it did not take is the test's to check
    at += static_cast<std::size_t>(n);
  }
}

std::string octet(const std::string& msg) {
  return std::to_string(msg.size()) + " " + msg;
}

// Whether the peer closed `fd` (reads return 0 or a reset) within `timeout`.
bool closedByPeer(int fd, std::chrono::milliseconds timeout) {
  return waitFor(
      [&] {
        char buf[4096];
        const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      },
      timeout, 10ms);
}

// A connection that ds_receive keeps open (it did not close it within 200 ms), with one
// message `text` sent on it; -1 if none within the deadline.
int connectServed(int port, const std::string& text) {
  int served = -1;
  waitFor([&] {
    const int fd = connectTcp(port);
    if (fd < 0) return false;
    sendAll(fd, "<13>1 - - - - - - " + text + "\n");
    if (closedByPeer(fd, 200ms)) {
      ::close(fd);
      return false;
    }
    served = fd;
    return true;
  });
  return served;
}

}  // namespace

TEST_CASE("logger over TCP and UDP arrives with the category and severity of the rules",
          "[ds_receive][integration]") {
  const int port = freePort();
  const int udp = freePort(SOCK_DGRAM);
  Hub hub(dsConfig(port, "    udp: \"udp://127.0.0.1:" + std::to_string(udp) +
                             "\"\n"
                             "    rules:\n"
                             "      - { app: myapp, syslog_severity: err, category: APPERR }\n"
                             "      - { match: 'disk \\S+ failed', category: DISK, severity: "
                             "critical }\n"
                             "      - { facility: mail, category: MAIL }\n"));
  startServing(hub, port);
  const std::string p = std::to_string(port);

  logger({"--tcp", "--octet-count", "-n", "127.0.0.1", "-P", p, "-t", "myapp", "-i", "-p",
          "local3.err", "octet counted error"});
  logger(
      {"--tcp", "-n", "127.0.0.1", "-P", p, "-t", "other", "-p", "user.info", "disk sda failed"});
  logger({"--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", p, "-t", "myapp", "-p", "daemon.warning",
          "plain 3164 warning"});
  logger({"--tcp", "-n", "127.0.0.1", "-P", p, "-t", "postfix", "-p", "mail.notice", "--msgid",
          "Q1", "queue flushed"});
  logger({"--udp", "-n", "127.0.0.1", "-P", std::to_string(udp), "-t", "udpapp", "-p",
          "local0.crit", "over udp"});

  const json a = waitReport(hub, "octet counted error");
  REQUIRE(a.is_object());
  CHECK(a["category"] == "APPERR");
  CHECK(a["severity"] == "error");
  CHECK(a["origin"] == "alpha");
  CHECK(a["attrs"]["app"] == "myapp");
  CHECK(a["attrs"]["facility"] == "local3");
  CHECK(a["attrs"]["syslog_severity"] == "err");
  CHECK(a["attrs"]["procid"].get<std::string>() != "");
  CHECK(a["attrs"]["peer"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(a["attrs"]["sd"].get<std::string>().find("timeQuality") != std::string::npos);

  const json b = waitReport(hub, "disk sda failed");
  REQUIRE(b.is_object());
  CHECK(b["category"] == "DISK");
  CHECK(b["severity"] == "critical");

  // A warning from myapp is not "err or worse": the default category, severity mapped.
  const json c = waitReport(hub, "plain 3164 warning");
  REQUIRE(c.is_object());
  CHECK(c["category"] == "SYSLOG");
  CHECK(c["severity"] == "warning");
  CHECK(c["attrs"]["app"] == "myapp");
  CHECK(c["attrs"]["facility"] == "daemon");

  const json d = waitReport(hub, "queue flushed");
  REQUIRE(d.is_object());
  CHECK(d["category"] == "MAIL");
  CHECK(d["severity"] == "info");
  CHECK(d["attrs"]["msgid"] == "Q1");

  const json e = waitReport(hub, "over udp");
  REQUIRE(e.is_object());
  CHECK(e["category"] == "SYSLOG");
  CHECK(e["severity"] == "critical");
  CHECK(e["attrs"]["app"] == "udpapp");

  CHECK(hub.processStatus("ds_receive")["restarts"] == 0);
  CHECK(hub.stop() == 0);
}

// ns since the epoch of an operator log "ts" ("2026-11-22T08:08:51.397Z", UTC, ms).
std::int64_t tsNs(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms) * 1'000'000;
}

TEST_CASE("a message without a timestamp takes the time ds_receive read it",
          "[ds_receive][integration]") {
  const int port = freePort();
  const int udp = freePort(SOCK_DGRAM);
  Hub hub(dsConfig(port, "    udp: \"udp://127.0.0.1:" + std::to_string(udp) + "\"\n"));
  startServing(hub, port);
  const int fd = connectTcp(port);
  REQUIRE(fd >= 0);
  const int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(ufd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(udp));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  // Sent 50 ms apart, so that a time taken once (at accept, at the first read) and kept
  // would show in the second.
  std::vector<std::pair<std::string, std::int64_t>> sent;  // text, when it was sent
  for (int i = 0; i < 2; ++i) {
    if (i > 0) std::this_thread::sleep_for(50ms);  // the time itself is under test
    const std::string tcp_text = "no stamp over tcp " + std::to_string(i);
    const std::string udp_text = "no stamp over udp " + std::to_string(i);
    const std::int64_t at = reporthub::nowNs();
    sendAll(fd, octet("<13>1 - host app - - - " + tcp_text));
    const std::string datagram = "<13>1 - host app - - - " + udp_text;
    REQUIRE(sendto(ufd, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof to) > 0);
    sent.emplace_back(tcp_text, at);
    sent.emplace_back(udp_text, at);
  }
  for (const auto& [text, at] : sent) {
    const json r = waitReport(hub, text);
    REQUIRE(r.is_object());
    INFO(text << ": " << r["ts"]);
    // Read within a second of being sent; ts keeps milliseconds.
    const std::int64_t ts = tsNs(r["ts"].get<std::string>());
    CHECK(ts >= at / 1'000'000 * 1'000'000);
    CHECK(ts < at + 1'000'000'000);
  }
  ::close(fd);
  ::close(ufd);
  CHECK(hub.stop() == 0);
}

TEST_CASE("rsyslog forwards into ds_receive with omfwd, octet-counted and newline-framed",
          "[ds_receive][integration]") {
  const int port = freePort();
  Hub hub(dsConfig(port));
  startServing(hub, port);

  // A private rsyslog: two TCP inputs, each forwarding with omfwd in one of the formats
  // relays use. No imuxsock or imklog: it sees nothing of this machine's own logging.
  const int in3164 = freePort(), in5424 = freePort();
  const TempDir& dir = hub.dir();
  fs::create_directories(dir / "rsyslog");
  const auto conf =
      dir.write("rsyslog/rsyslog.conf",
                "global(workDirectory=\"" + (dir / "rsyslog").string() +
                    "\")\n"
                    "module(load=\"imtcp\")\n"
                    "ruleset(name=\"fwd3164\") {\n"
                    "  action(type=\"omfwd\" target=\"127.0.0.1\" port=\"" +
                    std::to_string(port) +
                    "\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" "
                    "template=\"RSYSLOG_ForwardFormat\")\n"
                    "}\n"
                    "ruleset(name=\"fwd5424\") {\n"
                    "  action(type=\"omfwd\" target=\"127.0.0.1\" port=\"" +
                    std::to_string(port) +
                    "\" protocol=\"tcp\" template=\"RSYSLOG_SyslogProtocol23Format\")\n"
                    "}\n"
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                    std::to_string(in3164) +
                    "\" ruleset=\"fwd3164\")\n"
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                    std::to_string(in5424) + "\" ruleset=\"fwd5424\")\n");
  Process rsyslog(
      {kRsyslogd, "-n", "-C", "-f", conf.string(), "-i", (dir / "rsyslog/pid").string()},
      dir / "rsyslog/out", dir / "rsyslog/err");
  INFO("rsyslogd: " << readFile(dir / "rsyslog/err"));
  REQUIRE(waitFor([&] { return tcpAccepting(in3164) && tcpAccepting(in5424); }));

  logger({"--tcp", "-n", "127.0.0.1", "-P", std::to_string(in3164), "-t", "relayed", "-p",
          "auth.err", "through rsyslog forward format"});
  logger({"--tcp", "-n", "127.0.0.1", "-P", std::to_string(in5424), "-t", "relayed", "-p",
          "local5.warning", "--msgid", "M5", "through rsyslog protocol 23"});

  const json a = waitReport(hub, "through rsyslog forward format");
  REQUIRE(a.is_object());
  CHECK(a["category"] == "SYSLOG");
  CHECK(a["severity"] == "error");
  CHECK(a["attrs"]["app"] == "relayed");
  CHECK(a["attrs"]["facility"] == "auth");
  CHECK(a["attrs"]["syslog_severity"] == "err");
  CHECK(a["attrs"].contains("host"));

  const json b = waitReport(hub, "through rsyslog protocol 23");
  REQUIRE(b.is_object());
  CHECK(b["severity"] == "warning");
  CHECK(b["attrs"]["app"] == "relayed");
  CHECK(b["attrs"]["facility"] == "local5");
  CHECK(b["attrs"]["msgid"] == "M5");

  rsyslog.killAll();
  CHECK(hub.stop() == 0);
}

TEST_CASE("malformed, oversized and random input is counted while good input all arrives",
          "[ds_receive][integration]") {
  const int port = freePort();
  Hub hub(dsConfig(port, "    max_message: 480\n"));
  startServing(hub, port);
  const int good = connectTcp(port), bad = connectTcp(port), noise = connectTcp(port);
  REQUIRE(good >= 0);
  REQUIRE(bad >= 0);
  REQUIRE(noise >= 0);

  std::mt19937 rng(6);
  constexpr int kGood = 300;
  int after_bad = 0;
  for (int i = 0; i < kGood; ++i) {
    // Good messages, both framings, interleaved in time with the bad ones.
    const std::string msg = "<13>1 - host app - - - good " + std::to_string(i);
    sendAll(good, i % 2 ? octet(msg) : msg + "\n");
    if (i % 50 == 0) {
      std::string junk(4096, '\0');
      for (char& ch : junk)
        ch = static_cast<char>(rng());
      sendAll(noise, junk);
      sendAll(bad, "<999>bad pri\n<13>1 yesterday h a - - - bad time\n" +
                       octet("<13>1 - h a - - - " + std::string(2000, 'o')) + "<13>" +
                       std::string(1000, 'l') + "\n" + "no framing at all\n");
      // The stream survives all of that: a good message on the same connection arrives.
      sendAll(bad, "<13>1 - host app - - - after bad " + std::to_string(after_bad++) + "\n");
    }
  }
  INFO("hub.log: " << readFile(hub.hubLog()));
  REQUIRE(hub.waitLines(static_cast<std::size_t>(kGood + after_bad), 20s));
  // Every good message exactly once, and nothing else.
  std::map<std::string, int> seen;
  for (const auto& r : reports(hub))
    ++seen[r["text"].get<std::string>()];
  CHECK(seen.size() == static_cast<std::size_t>(kGood + after_bad));
  for (int i = 0; i < kGood; ++i)
    CHECK(seen["good " + std::to_string(i)] == 1);
  for (int i = 0; i < after_bad; ++i)
    CHECK(seen["after bad " + std::to_string(i)] == 1);

  // Each problem said once per connection, with the sender; no crash.
  const std::string log = readFile(hub.hubLog());
  CHECK(log.find("[ds_receive] warning: malformed syslog (bad PRI) from 127.0.0.1:") !=
        std::string::npos);
  CHECK(std::regex_search(log, std::regex(R"(\[ds_receive\] warning: [^\n]+ from 127\.0\.0\.1:)")));
  CHECK(hub.processStatus("ds_receive")["restarts"] == 0);
  ::close(good);
  ::close(bad);
  ::close(noise);
  CHECK(hub.stop() == 0);
  // The counts, as the stop summary gives them: 6 times 2 malformed, 6 oversized frames
  // and 6 over-long lines, 6 unframed lines (and whatever the random bytes made).
  std::smatch m;
  const std::string after = readFile(hub.hubLog());
  REQUIRE(std::regex_search(
      after, m,
      std::regex(
          R"(stopped: (\d+) messages received \(0 UDP\), (\d+) reported; refused: (\d+) malformed, (\d+) oversized, (\d+) not syslog framing)")));
  CHECK(std::stoi(m[2]) == kGood + after_bad);
  CHECK(std::stoi(m[3]) >= 12);
  CHECK(std::stoi(m[4]) >= 12);
  CHECK(std::stoi(m[5]) >= 6);
}

TEST_CASE("connections beyond max_connections are closed at once", "[ds_receive][integration]") {
  const int port = freePort();
  Hub hub(dsConfig(port, "    max_connections: 2\n"));
  startServing(hub, port);
  // The probe that saw the port open may still count until its close is read: connect
  // until a connection stays open.
  const int a = connectServed(port, "from a");
  const int b = connectServed(port, "from b");
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  REQUIRE(waitReport(hub, "from a").is_object());
  REQUIRE(waitReport(hub, "from b").is_object());
  const int c = connectTcp(port);
  REQUIRE(c >= 0);
  CHECK(closedByPeer(c, 5s));
  // The two that were there still work.
  sendAll(a, "<13>1 - - - - - - again a\n");
  CHECK(waitReport(hub, "again a").is_object());
  CHECK(readFile(hub.hubLog()).find("(max_connections)") != std::string::npos);
  ::close(a);
  ::close(b);
  ::close(c);
  // Room again: a new connection is served.
  const int d = connectServed(port, "from d");
  CHECK(d >= 0);
  CHECK(waitReport(hub, "from d").is_object());
  ::close(d);
  CHECK(hub.stop() == 0);
}

TEST_CASE("ds_receive does not serve while another process holds ds.lock",
          "[ds_receive][integration]") {
  const int port = freePort();
  Hub hub(dsConfig(port, "    restart: { immediate: 1000, window: 1m, then_every: 1s }\n"));
  fs::create_directories(hub.dir() / "var");
  auto lock = reporthub::ExclusiveLock::acquire(hub.dir() / "var/ds.lock");
  REQUIRE(lock);
  hub.start();
  const std::string held = "is held by pid " + std::to_string(getpid());
  INFO("hub.log: " << readFile(hub.hubLog()));
  REQUIRE(waitFor([&] { return readFile(hub.hubLog()).find(held) != std::string::npos; }));
  CHECK_FALSE(tcpAccepting(port));
  // Once it is free, the hub takes it and a restarted ds_receive serves.
  lock->release();
  REQUIRE(waitFor([&] { return tcpAccepting(port); }, 20s));
  logger({"--tcp", "-n", "127.0.0.1", "-P", std::to_string(port), "-t", "t", "after the lock"});
  CHECK(waitReport(hub, "after the lock").is_object());
  CHECK(hub.stop() == 0);
}

TEST_CASE("without credit from the hub ds_receive stops reading and TCP pushes back",
          "[ds_receive][integration]") {
  const int port = freePort();
  // A text operator log: the cheapest lines to write, for the many reports this takes.
  Hub hub("inputs:\n  ds_receive: { listen: \"tcp://127.0.0.1:" + std::to_string(port) + "\" }\n");
  startServing(hub, port);
  const int fd = connectTcp(port);
  REQUIRE(fd >= 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int small = 16 * 1024;  // less to send before the push-back shows
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);

  // A stopped hub acknowledges nothing: once ds_receive has used its credit (16,384
  // reports), it must leave the socket unread, so the sender's writes stop going through.
  hub.process().signal(SIGSTOP);
  struct Resume {
    Hub& hub;
    ~Resume() { hub.process().signal(SIGCONT); }
  } resume{hub};
  int sent = 0;
  std::size_t bytes = 0;
  std::string pending;
  bool pushed_back = false;
  while (!pushed_back && bytes < (64u << 20)) {
    if (pending.empty()) {
      for (int i = 0; i < 1000; ++i)
        pending += "<13>1 - - - - - - bp " + std::to_string(sent++) + "\n";
    }
    const ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes += static_cast<std::size_t>(n);
      pending.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    REQUIRE(errno == EAGAIN);
    pollfd p{fd, POLLOUT, 0};
    pushed_back = poll(&p, 1, 500) == 0;  // not writable for half a second: nobody reads
  }
  INFO(bytes << " bytes sent");
  CHECK(pushed_back);

  // Resumed, the hub takes everything: nothing was dropped meanwhile.
  hub.process().signal(SIGCONT);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  sendAll(fd, pending);
  ::close(fd);
  INFO("hub.log: " << readFile(hub.hubLog()));
  // Polled gently: reading a growing log too often takes the CPU the hub needs.
  CHECK(waitFor(
      [&] {
        const std::string log = readFile(hub.operatorLog());
        return std::count(log.begin(), log.end(), '\n') >= sent;
      },
      60s, 100ms));
  CHECK(readLines(hub.operatorLog()).size() == static_cast<std::size_t>(sent));
  CHECK(hub.stop() == 0);
}

TEST_CASE("DMStop closes a connection that stays open, and the hub stops",
          "[ds_receive][integration]") {
  const int port = freePort();
  Hub hub(dsConfig(port));
  startServing(hub, port);
  const int fd = connectTcp(port);
  REQUIRE(fd >= 0);
  sendAll(fd, octet("<13>1 - - client - - - before the stop"));
  REQUIRE(waitReport(hub, "before the stop").is_object());

  const auto t0 = std::chrono::steady_clock::now();
  CHECK(hub.stop(20s) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  CHECK(closedByPeer(fd, 5s));
  CHECK_FALSE(tcpAccepting(port));
  const std::string log = readFile(hub.hubLog());
  CHECK(log.find("[ds_receive] info: stopping: closing the listener and 1 connection(s)") !=
        std::string::npos);
  ::close(fd);
}
