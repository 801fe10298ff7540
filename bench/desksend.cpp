// desksend: how fast mail reaches users. N reports routed to [operator, ops] (ops: mail to
// U users) go from a load generator through a real hub; timed to the N-th operator-log line
// and to the last message in the users' Maildirs, then, in a second hub, to the last message
// at a local SMTP server (aiosmtpd). For reference, the same SMTP server's rate for the same
// messages sent by one libcurl client in this process, without a hub.
#include "bench/support.h"

#include "outputs/desksend/message.h"
#include "outputs/desksend/smtp.h"
#include "tests/support/smtp_server.h"

#include <curl/curl.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>

namespace rb = reporthub::bench;
namespace ds = reporthub::outputs::desksend;
using namespace std::chrono_literals;

namespace {

std::string users(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i)
    out += (i > 1 ? ", " : "") + std::string("user") + std::to_string(i);
  return out;
}

struct Figures {
  double local_rate = 0;  // reports/s to the N-th operator-log line
  double mail_rate = 0;   // messages/s to the last one (Maildir, or the SMTP server)
  double desksend_cpu_us = 0, server_cpu_us = 0;  // CPU per message
  std::size_t messages = 0;
};

// One hub; `smtp_url` empty: Maildir only. Times from the first submit.
Figures hubRun(std::size_t n, std::size_t size, int nusers, const std::string& smtp_url,
               const reporthub::test::SmtpServer* server) {
  std::string desksend = "outputs:\n  desksend:\n    maildir: var/mail\n";
  if (!smtp_url.empty())
    desksend += "    smtp: { url: \"" + smtp_url + "\", domain: bench.test }\n";
  rb::Hub hub("shutdown: { kill_timeout: 30s }\n" + desksend +
              "recipients:\n  operator: local\n  ops: { mail: [" + users(nusers) +
              "] }\n"
              "categories:\n  BENCH: [operator, ops]\n  default: [operator]\n");
  hub.start();
  const pid_t desksend_pid = hub.processPid("desksend");
  const double cpu0 = rb::cpuSeconds(desksend_pid);
  const double server_cpu0 = server ? rb::cpuSeconds(server->pid()) : 0;
  rb::LogTail tail(hub.operatorLog());
  const auto last_box = hub.dir() / "var/mail" / ("user" + std::to_string(nusers)) / "new";
  const std::size_t messages = n * static_cast<std::size_t>(nusers);
  auto mailCount = [&] {
    // The SMTP run counts what the server got; the Maildir run the last user's Maildir,
    // which each batch reaches last.
    return server ? server->received()
                  : reporthub::test::countFiles(last_box) * static_cast<std::size_t>(nusers);
  };
  Figures f;
  f.messages = messages;
  {
    rb::Generator gen(hub.childEndpoint());
    reporthub::Report r = rb::makeReport(size);
    const auto t0 = rb::Clock::now();
    double local_s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      r.id = reporthub::newReportId();
      r.ts_ns = reporthub::nowNs();
      gen.submit(r);
      if (local_s == 0 && (i & 1023) == 0 && tail.poll() >= n) local_s = rb::secondsSince(t0);
    }
    gen.waitAcked(120s);
    const bool done = rb::waitFor(
        [&] {
          if (local_s == 0 && tail.poll() >= n) local_s = rb::secondsSince(t0);
          return local_s > 0 && mailCount() >= messages;
        },
        600s, 2ms);
    if (!done) {
      throw std::runtime_error("only " + std::to_string(mailCount()) + " of " +
                               std::to_string(messages) + " messages arrived");
    }
    f.mail_rate = static_cast<double>(messages) / rb::secondsSince(t0);
    f.local_rate = static_cast<double>(n) / local_s;
  }
  f.desksend_cpu_us = (rb::cpuSeconds(desksend_pid) - cpu0) * 1e6 / static_cast<double>(messages);
  if (server) {
    f.server_cpu_us =
        (rb::cpuSeconds(server->pid()) - server_cpu0) * 1e6 / static_cast<double>(messages);
  }
  hub.stop();
  return f;
}

// The server's rate for the same messages from one libcurl client, no hub: the ceiling.
double rawSmtpRate(std::size_t messages, std::size_t size) {
  reporthub::test::SmtpServer server;
  ds::SmtpOptions o;
  o.url = server.url();
  o.mail_from = "reporthub@bench";
  ds::SmtpClient client(o);
  reporthub::Report r = rb::makeReport(size);
  const auto t0 = rb::Clock::now();
  for (std::size_t i = 0; i < messages; ++i) {
    if ((i & 255) == 0) rb::throwIfInterrupted();
    r.id = reporthub::newReportId();
    const auto out = client.send("user1@bench.test",
                                 ds::formatMessage(r, "reporthub@bench", "user1@bench.test"));
    if (out.status != reporthub::wire::Status::ok) throw std::runtime_error(out.reason);
  }
  if (!rb::waitFor([&] { return server.received() >= messages; }, 60s)) {
    throw std::runtime_error("the raw SMTP run lost messages");
  }
  return static_cast<double>(messages) / rb::secondsSince(t0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reporthub desksend benchmark: Maildir and SMTP delivery rates"};
  std::size_t n = 10'000, size = 200;
  int rounds = 3, nusers = 1;
  bool no_smtp = false;
  app.add_option("-n,--count", n, "reports per round")->default_val(n);
  app.add_option("-s,--size", size, "bytes per report (its msgpack encoding)")->default_val(size);
  app.add_option("-r,--rounds", rounds, "rounds; medians are printed")->default_val(rounds);
  app.add_option("-u,--users", nusers, "mail users of the recipient (messages per report)")
      ->default_val(nusers)
      ->check(CLI::Range(1, 100));
  app.add_flag("--no-smtp", no_smtp, "Maildir only");
  CLI11_PARSE(app, argc, argv);

  rb::installInterruptHandler();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::printf(
      "desksend: %zu reports of %zu bytes per round to [operator, ops], ops: mail to %d "
      "user%s, %d rounds\n",
      n, size, nusers, nusers == 1 ? "" : "s", rounds);
  std::vector<double> md_local, md_mail, md_cpu, sm_local, sm_mail, sm_cpu, sm_server_cpu, raw;
  try {
    for (int i = 1; i <= rounds; ++i) {
      const Figures m = hubRun(n, size, nusers, "", nullptr);
      md_local.push_back(m.local_rate);
      md_mail.push_back(m.mail_rate);
      md_cpu.push_back(m.desksend_cpu_us);
      std::printf(
          "round %d: Maildir: %.0f messages/s into Maildirs | operator log %.0f reports/s "
          "in the same run | desksend CPU %.1f us per message\n",
          i, m.mail_rate, m.local_rate, m.desksend_cpu_us);
      if (!no_smtp) {
        reporthub::test::SmtpServer server;
        const Figures s = hubRun(n, size, nusers, server.url(), &server);
        sm_local.push_back(s.local_rate);
        sm_mail.push_back(s.mail_rate);
        sm_cpu.push_back(s.desksend_cpu_us);
        sm_server_cpu.push_back(s.server_cpu_us);
        raw.push_back(rawSmtpRate(s.messages, size));
        std::printf(
            "         SMTP:    %.0f messages/s at the server (and into Maildirs) | "
            "operator log %.0f reports/s in the same run | desksend CPU %.1f us, server "
            "CPU %.1f us per message | same server from one libcurl client, no hub: "
            "%.0f messages/s\n",
            s.mail_rate, s.local_rate, s.desksend_cpu_us, s.server_cpu_us, raw.back());
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "desksend: %s\n", e.what());
    return 1;
  }
  std::printf(
      "median over %d rounds:\n  Maildir: %.0f messages/s (operator log %.0f reports/s "
      "in the same runs; desksend CPU %.1f us per message)\n",
      rounds, rb::median(md_mail), rb::median(md_local), rb::median(md_cpu));
  if (!no_smtp) {
    std::printf(
        "  SMTP:    %.0f messages/s to aiosmtpd (operator log %.0f reports/s in the same "
        "runs; desksend CPU %.1f us, server CPU %.1f us per message); the server alone "
        "from one client: %.0f messages/s (hub/raw %.0f%%)\n",
        rb::median(sm_mail), rb::median(sm_local), rb::median(sm_cpu), rb::median(sm_server_cpu),
        rb::median(raw), 100 * rb::median(sm_mail) / rb::median(raw));
  }
  curl_global_cleanup();
  return 0;
}
