// End-to-end tests of desksend (DESIGN §1, §2): a real hub delivers mail reports into
// Maildirs in its temporary directory and to a real SMTP server (aiosmtpd on a loopback
// port chosen at run time); DeskOff/DeskOn, kill -9 of desksend mid-stream and a relay
// outage must neither lose nor repeat a message.
#include "tests/support/harness.h"
#include "tests/support/mail_parse.h"
#include "tests/support/smtp_server.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <set>

using namespace reporthub::test;
using nlohmann::json;

namespace {

const std::string kMailConfig =
    "recipients:\n"
    "  operator: local\n"
    "  ops: { mail: [alice, bob] }\n"
    "categories:\n"
    "  DISK: [operator, ops]\n"
    "  MAILTEST: [ops]\n"
    "  default: [operator]\n";

json outputStatus(Hub& hub, const std::string& output) {
  auto st = hub.status();
  if (!st.is_object()) return nullptr;
  for (const auto& o : st["outputs"]) {
    if (o["output"] == output) return o;
  }
  return nullptr;
}

// The X-Reporthub-Id of every message in a Maildir's new/, as a multiset (duplicates show).
std::multiset<std::string> reportIds(const std::filesystem::path& new_dir) {
  std::multiset<std::string> ids;
  for (const auto& f : filesIn(new_dir)) {
    const std::string text = readFile(f);
    const auto pos = text.find("\r\nX-Reporthub-Id: ");
    if (pos == std::string::npos) continue;
    const auto start = pos + 18;
    ids.insert(text.substr(start, text.find("\r\n", start) - start));
  }
  return ids;
}

bool hasDuplicates(const std::multiset<std::string>& ids) {
  return std::set<std::string>(ids.begin(), ids.end()).size() != ids.size();
}

std::string processState(Hub& hub, const std::string& id) {
  auto p = hub.processStatus(id);
  return p.is_object() ? p["state"].get<std::string>() : "";
}

}  // namespace

TEST_CASE("a mail report lands once in each user's Maildir as a parseable message",
          "[desksend][integration]") {
  Hub hub("outputs: { desksend: { maildir: var/mail } }\n" + kMailConfig);
  hub.start();
  auto r =
      hub.hubctl({"report", "-C", "DISK", "-s", "warning", "-a", "mount=/", "root is 91% full"});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  const auto mail = hub.dir() / "var/mail";
  REQUIRE(waitFor([&] {
    return filesIn(mail / "alice/new").size() == 1 && filesIn(mail / "bob/new").size() == 1;
  }));
  for (const char* user : {"alice", "bob"}) {
    const auto m = parseMail(readFile(filesIn(mail / user / "new")[0]));
    REQUIRE(m.is_object());
    CHECK(m["defects"].empty());
    CHECK(header(m, "to") == std::string(user) + "@alpha");
    CHECK(header(m, "from") == "reporthub@alpha");
    CHECK(header(m, "subject") == "[DISK] warning from alpha: root is 91% full");
    CHECK(header(m, "message-id") == "<" + id + "@alpha>");
    CHECK(header(m, "x-reporthub-id") == id);
    const std::string body = m["body"];
    CHECK(body.starts_with("root is 91% full\n"));
    CHECK(body.find("Source:   jcl\n") != std::string::npos);
    CHECK(body.find("  mount: /\n") != std::string::npos);
    CHECK(filesIn(mail / user / "tmp").empty());
  }
  REQUIRE(hub.waitLines(1));  // the operator got it too
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["delivered"] == 1; }));
  CHECK(hub.stop() == 0);
  CHECK(filesIn(mail / "alice/new").size() == 1);
}

TEST_CASE("DeskOff stops desksend and mail waits, DeskOn delivers it once",
          "[desksend][integration]") {
  Hub hub("outputs: { desksend: { maildir: var/mail } }\n" + kMailConfig);
  hub.start();
  REQUIRE(waitFor([&] { return processState(hub, "desksend") == "running"; }));
  REQUIRE(hub.hubctl({"deskoff"}).code == 0);
  REQUIRE(waitFor([&] { return processState(hub, "desksend") == "stopped"; }));
  CHECK(readFile(hub.hubLog()).find("DeskOff: stopping desksend") != std::string::npos);

  for (int i = 0; i < 3; ++i)
    REQUIRE(hub.hubctl({"report", "-C", "DISK", "waiting " + std::to_string(i)}).code == 0);
  // The operator console is not desk-dependent: it gets them at once.
  REQUIRE(hub.waitLines(3));
  // The mail waits in the journal: the backlog says so, and no Maildir has it.
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["backlog"] == 3; }));
  CHECK(filesIn(hub.dir() / "var/mail/alice/new").empty());

  REQUIRE(hub.hubctl({"deskon"}).code == 0);
  const auto alice = hub.dir() / "var/mail/alice/new", bob = hub.dir() / "var/mail/bob/new";
  REQUIRE(waitFor([&] { return filesIn(alice).size() == 3 && filesIn(bob).size() == 3; }));
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["backlog"] == 0; }));
  // Another DeskOff/DeskOn round sends nothing again.
  REQUIRE(hub.hubctl({"deskoff"}).code == 0);
  REQUIRE(waitFor([&] { return processState(hub, "desksend") == "stopped"; }));
  REQUIRE(hub.hubctl({"deskon"}).code == 0);
  REQUIRE(waitFor([&] { return processState(hub, "desksend") == "running"; }));
  CHECK(hub.stop() == 0);
  CHECK(filesIn(alice).size() == 3);
  CHECK(filesIn(bob).size() == 3);
  CHECK_FALSE(hasDuplicates(reportIds(alice)));
}

TEST_CASE("desk off at start: desksend is not started until DeskOn", "[desksend][integration]") {
  Hub hub("desk: { at_start: off }\noutputs: { desksend: { maildir: var/mail } }\n" + kMailConfig);
  hub.start();
  CHECK(processState(hub, "desksend") == "stopped");
  REQUIRE(hub.hubctl({"report", "-C", "MAILTEST", "held"}).code == 0);
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["backlog"] == 1; }));
  REQUIRE(hub.hubctl({"deskon"}).code == 0);
  REQUIRE(waitFor([&] { return filesIn(hub.dir() / "var/mail/bob/new").size() == 1; }));
  CHECK(hub.stop() == 0);
}

TEST_CASE("kill -9 of desksend mid-stream: no Maildir message lost or repeated",
          "[desksend][integration][smtp]") {
  // With the relay, each report takes a few SMTP round trips and syncs, so the stream lasts
  // long enough to be killed in the middle, with a batch's messages in tmp/. Few enough
  // files that the temporary directories go quickly (a synced file costs a discard).
  constexpr std::size_t kReports = 250;
  SmtpServer server;
  Hub hub("outputs:\n  desksend:\n    maildir: var/mail\n    smtp: { url: \"" + server.url() +
          "\", domain: example.net }\n" + kMailConfig +
          "inputs:\n  testproc:\n    - { name: talker, mode: emit, count: " +
          std::to_string(kReports) + ", category: MAILTEST }\n");
  hub.start();
  int kills = 0;
  for (std::size_t received : {std::size_t{40}, std::size_t{200}}) {
    REQUIRE(waitFor([&] { return server.messages().size() >= received; }, 60s, 2ms));
    auto p = hub.processStatus("desksend");
    REQUIRE(p.is_object());
    REQUIRE(p["state"] == "running");
    ::kill(p["pid"].get<pid_t>(), SIGKILL);
    ++kills;
    REQUIRE(waitFor([&] {
      auto q = hub.processStatus("desksend");
      return q.is_object() && q["pid"] != p["pid"] && q["state"] == "running";
    }));
  }
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["backlog"] == 0; }, 60s));
  // Both kills came with a batch half-way in tmp/, which the next start cleaned up.
  CHECK(readFile(hub.hubLog()).find("unrecorded one(s) removed from tmp/") != std::string::npos);
  for (const char* user : {"alice", "bob"}) {
    const auto dir = hub.dir() / "var/mail" / user;
    const auto ids = reportIds(dir / "new");
    CHECK(ids.size() == kReports);
    CHECK_FALSE(hasDuplicates(ids));
    CHECK(countFiles(dir / "tmp") == 0);
  }
  // SMTP: nothing lost; a kill between the relay's 250 and the record's fdatasync may
  // repeat that one message, never more.
  std::map<std::string, int> sent;
  for (const auto& f : server.messages()) {
    const std::string text = readFile(f);
    const auto to = text.find("\nX-RcptTo: ");
    const auto id = text.find("\nX-Reporthub-Id: ");
    REQUIRE(to != std::string::npos);
    REQUIRE(id != std::string::npos);
    ++sent[text.substr(to + 12, text.find_first_of("\r\n", to + 12) - to - 12) + " " +
           text.substr(id + 17, text.find_first_of("\r\n", id + 17) - id - 17)];
  }
  CHECK(sent.size() == 2 * kReports);
  int repeats = 0;
  for (const auto& [key, n] : sent)
    repeats += n - 1;
  CHECK(repeats <= kills);
  CHECK(hub.stop() == 0);
}

TEST_CASE("SMTP delivery to a real server, parsed on arrival", "[desksend][integration][smtp]") {
  SmtpServer server;
  Hub hub("outputs:\n  desksend:\n    maildir: var/mail\n    smtp: { url: \"" + server.url() +
          "\", domain: example.net, from: \"Report Hub <hub@example.net>\" }\n" + kMailConfig);
  hub.start();
  auto r = hub.hubctl({"report", "-C", "DISK", "-s", "critical", "-a", "disk=sda",
                       "Plattenfehler auf sda: bitte prüfen"});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(waitFor([&] { return server.messages().size() == 2; }));
  std::set<std::string> rcpts;
  for (const auto& f : server.messages()) {
    const auto m = parseMail(readFile(f));
    REQUIRE(m.is_object());
    CHECK(m["defects"].empty());
    CHECK(header(m, "x-mailfrom") == "hub@example.net");
    CHECK(header(m, "from") == "Report Hub <hub@example.net>");
    CHECK(header(m, "x-rcptto") == header(m, "to"));
    rcpts.insert(header(m, "to"));
    CHECK(header(m, "subject") ==
          "[DISK] critical from alpha: Plattenfehler auf sda: bitte prüfen");
    CHECK(header(m, "message-id") == "<" + id + "@alpha>");
    const std::string body = m["body"];
    CHECK(body.starts_with("Plattenfehler auf sda: bitte prüfen\n"));
    CHECK(body.find("  disk: sda\n") != std::string::npos);
  }
  CHECK(rcpts == std::set<std::string>{"alice@example.net", "bob@example.net"});
  CHECK(filesIn(hub.dir() / "var/mail/alice/new").size() == 1);  // and the Maildir copy
  CHECK(hub.stop() == 0);
  CHECK(readFile(hub.hubLog()).find("2 by SMTP over 1 connection(s)") != std::string::npos);
}

TEST_CASE("SMTP relay down, then up: mail waits and arrives once",
          "[desksend][integration][smtp]") {
  SmtpServer server;
  server.stop();
  Hub hub(
      "outputs:\n  desksend:\n    maildir: var/mail\n    retry: { first: 100ms, max: 200ms }\n"
      "    smtp: { url: \"" +
      server.url() + "\", domain: example.net }\n" + kMailConfig);
  hub.start();
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = hub.hubctl({"report", "-C", "MAILTEST", "during the outage " + std::to_string(i)});
    REQUIRE(r.code == 0);
    ids.insert(r.out.substr(0, r.out.find('\n')));
  }
  // The hub retries and shows why; the reports wait in its journal.
  REQUIRE(waitFor([&] {
    auto o = outputStatus(hub, "desksend");
    return o.is_object() && o["retries"].get<int>() >= 2 &&
           o["last_error"].get<std::string>().find(server.url()) != std::string::npos;
  }));
  CHECK(outputStatus(hub, "desksend")["backlog"] == 3);
  server.start();
  REQUIRE(waitFor([&] { return server.messages().size() == 6; }));
  REQUIRE(waitFor([&] { return outputStatus(hub, "desksend")["backlog"] == 0; }));
  std::map<std::string, int> per_user_report;
  for (const auto& f : server.messages()) {
    const auto m = parseMail(readFile(f));
    ++per_user_report[header(m, "to") + " " + header(m, "x-reporthub-id")];
    CHECK(ids.contains(header(m, "x-reporthub-id")));
  }
  CHECK(per_user_report.size() == 6);  // 3 reports x 2 users, each once
  for (const char* user : {"alice", "bob"}) {
    const auto got = reportIds(hub.dir() / "var/mail" / user / "new");
    CHECK(std::set<std::string>(got.begin(), got.end()) == ids);
    CHECK(got.size() == 3);
  }
  CHECK(hub.stop() == 0);
  CHECK(server.messages().size() == 6);
}
