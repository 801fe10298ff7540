// The desksend output without a hub: deliveries into real Maildirs in a temporary directory
// and to a real SMTP server, redeliveries after simulated crashes at each step, and the
// answers (ok / retry / failed) the hub would get.
#include "outputs/desksend/desksend.h"

#include "tests/support/mail_parse.h"
#include "tests/support/smtp_server.h"

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace reporthub;
using namespace reporthub::outputs::desksend;
using reporthub::outputs::DeliveredIds;
using reporthub::test::filesIn;
using reporthub::test::header;
using reporthub::test::parseMail;
using reporthub::test::readFile;
using reporthub::test::SmtpServer;
using reporthub::test::TempDir;

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

config::Config makeConfig(const TempDir& dir, std::vector<std::string> users = {"alice", "bob"}) {
  config::Config cfg;
  cfg.node = "alpha";
  cfg.state_dir = dir / "var";
  cfg.run_dir = dir / "run";
  config::DesksendOutput ds;
  ds.maildir = dir / "mail";
  cfg.outputs.desksend = ds;
  cfg.recipients["ops"] = config::MailRecipient{std::move(users)};
  return cfg;
}

Report report(int n) {
  Report r;
  r.id = "01a20133-b7f9-7e7c-b24c-" + std::string(12 - std::to_string(n).size(), '0') +
         std::to_string(n);
  r.ts_ns = 1'763'780'496'377'000'000 + n;
  r.origin = "alpha";
  r.source = "jcl";
  r.category = "DISK";
  r.severity = Severity::warning;
  r.text = "report " + std::to_string(n);
  return r;
}

wire::Deliver deliverFor(const Report& r, std::uint64_t seq,
                         std::vector<std::string> users = {"alice", "bob"}) {
  return wire::Deliver{seq, r.id, {wire::Target{"ops", std::move(users)}}};
}

// Delivers and flushes as runOutput would; the combined answer.
wire::Status deliverAll(Desksend& out, const std::vector<std::pair<Report, wire::Deliver>>& batch,
                        std::string& reason) {
  wire::Status st = wire::Status::ok;
  for (const auto& [r, d] : batch) {
    const auto s = out.deliver(r, d, reason);
    if (s != wire::Status::ok) st = s;
  }
  std::string flush_reason;
  if (out.flush(flush_reason) != wire::Status::ok) {
    reason = flush_reason;
    return wire::Status::retry;
  }
  return st;
}

}  // namespace

TEST_CASE("each user gets one parseable message in new/", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  Desksend out(cfg, "testhost");
  const Report r = report(1);
  std::string reason;
  REQUIRE(deliverAll(out, {{r, deliverFor(r, 1)}}, reason) == wire::Status::ok);
  CHECK(out.counters().maildir == 2);
  for (const char* user : {"alice", "bob"}) {
    const auto base = dir / "mail" / user;
    const auto fresh = filesIn(base / "new");
    REQUIRE(fresh.size() == 1);
    CHECK(filesIn(base / "tmp").empty());
    CHECK(std::filesystem::is_directory(base / "cur"));
    CHECK(fresh[0].filename().string() == "1763780496.rh_" + r.id + ".testhost");
    CHECK((std::filesystem::status(fresh[0]).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    const auto m = parseMail(readFile(fresh[0]));
    REQUIRE(m.is_object());
    CHECK(m["defects"].empty());
    CHECK(header(m, "to") == std::string(user) + "@alpha");
    CHECK(header(m, "from") == "reporthub@alpha");
    CHECK(header(m, "message-id") == "<" + r.id + "@alpha>");
    CHECK(m["body"].get<std::string>().starts_with("report 1\n"));
  }
}

TEST_CASE("a redelivery, in the same batch or after a restart, is not written twice",
          "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  const Report r = report(2);
  std::string reason;
  {
    Desksend out(cfg);
    // A resubmitted report comes with a new seq but the same id, in the same batch.
    REQUIRE(deliverAll(out, {{r, deliverFor(r, 1)}, {r, deliverFor(r, 2)}}, reason) ==
            wire::Status::ok);
    CHECK(out.counters().maildir == 2);
    CHECK(out.counters().skipped == 2);
  }
  Desksend again(cfg);
  REQUIRE(deliverAll(again, {{r, deliverFor(r, 3)}}, reason) == wire::Status::ok);
  CHECK(again.counters().maildir == 0);
  CHECK(again.counters().skipped == 2);
  CHECK(filesIn(dir / "mail/alice/new").size() == 1);
  CHECK(filesIn(dir / "mail/bob/new").size() == 1);
}

TEST_CASE("a user reached through two recipients gets one message", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  Desksend out(cfg);
  const Report r = report(3);
  const wire::Deliver d{1, r.id, {{"ops", {"alice", "bob"}}, {"dba", {"alice"}}}};
  std::string reason;
  REQUIRE(deliverAll(out, {{r, d}}, reason) == wire::Status::ok);
  CHECK(filesIn(dir / "mail/alice/new").size() == 1);
}

TEST_CASE("a crash before the batch is recorded: the redelivery writes it once", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  const Report r = report(4);
  std::string reason;
  {
    Desksend out(cfg);
    REQUIRE(out.deliver(r, deliverFor(r, 1), reason) == wire::Status::ok);
    // No flush: the process dies with the message staged in tmp/.
  }
  CHECK(filesIn(dir / "mail/alice/tmp").size() == 1);
  CHECK(filesIn(dir / "mail/alice/new").empty());
  Desksend again(cfg);  // removes the unrecorded tmp/ files
  CHECK(filesIn(dir / "mail/alice/tmp").empty());
  REQUIRE(deliverAll(again, {{r, deliverFor(r, 1)}}, reason) == wire::Status::ok);
  CHECK(filesIn(dir / "mail/alice/new").size() == 1);
  CHECK(filesIn(dir / "mail/bob/new").size() == 1);
}

TEST_CASE("a crash after recording, before the rename: the next start finishes it", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  const Report recorded = report(5), unrecorded = report(6);
  const std::string host = Maildir::hostName();
  Maildir md(dir / "mail", host);
  std::string error;
  REQUIRE(md.stage("alice", md.fileName(recorded), "Subject: a\r\n\r\nrecorded\r\n", error));
  REQUIRE(md.stage("alice", md.fileName(unrecorded), "Subject: b\r\n\r\nunrecorded\r\n", error));
  REQUIRE(md.sync(error));
  md.discard();
  {
    std::filesystem::create_directories(cfg.state_dir);
    DeliveredIds ids(deliveredIdsPath(cfg));
    ids.add("m " + recorded.id + " alice");
    REQUIRE(ids.commit(error));
  }
  // Another mail program's file in the same tmp/ is none of ours.
  const auto foreign = dir / "mail/alice/tmp/1763780496.M1P2Q3.otherhost";
  std::ofstream(foreign) << "x";

  Desksend out(cfg);
  const auto fresh = filesIn(dir / "mail/alice/new");
  REQUIRE(fresh.size() == 1);
  CHECK(fresh[0].filename() == md.fileName(recorded));
  CHECK(filesIn(dir / "mail/alice/tmp") == std::vector<std::filesystem::path>{foreign});
  // The hub's redelivery of the recorded report is skipped; the other one is delivered.
  std::string reason;
  REQUIRE(deliverAll(out,
                     {{recorded, deliverFor(recorded, 1, {"alice"})},
                      {unrecorded, deliverFor(unrecorded, 2, {"alice"})}},
                     reason) == wire::Status::ok);
  CHECK(filesIn(dir / "mail/alice/new").size() == 2);
  CHECK(out.counters().skipped == 1);
}

TEST_CASE("an invalid user name is failed, the other users are served", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  Desksend out(cfg);
  const Report r = report(7);
  std::string reason;
  CHECK(deliverAll(out, {{r, deliverFor(r, 1, {"../etc", "alice"})}}, reason) ==
        wire::Status::failed);
  CHECK(reason.find("'../etc'") != std::string::npos);
  CHECK(filesIn(dir / "mail/alice/new").size() == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "etc"));
  CHECK(out.counters().rejected == 1);
}

TEST_CASE("a Maildir that cannot be written is a retry until it can", "[desksend]") {
  TempDir dir;
  const auto cfg = makeConfig(dir);
  dir.write("mail", "a file where the Maildir root should be");
  Desksend out(cfg);
  const Report r = report(8);
  std::string reason;
  CHECK(deliverAll(out, {{r, deliverFor(r, 1)}}, reason) == wire::Status::retry);
  CHECK(reason.find("mkdir " + (dir / "mail/alice").string()) != std::string::npos);
  std::filesystem::remove(dir / "mail");
  REQUIRE(deliverAll(out, {{r, deliverFor(r, 1)}}, reason) == wire::Status::ok);
  CHECK(filesIn(dir / "mail/alice/new").size() == 1);
  CHECK(filesIn(dir / "mail/bob/new").size() == 1);
}

TEST_CASE("SMTP alongside Maildir: once per user each, across a restart and an outage",
          "[desksend][smtp]") {
  CurlGlobal curl;
  TempDir dir;
  SmtpServer server;
  auto cfg = makeConfig(dir);
  cfg.outputs.desksend->smtp = config::SmtpSettings{};
  cfg.outputs.desksend->smtp->url = server.url();
  cfg.outputs.desksend->smtp->domain = "example.net";
  cfg.outputs.desksend->smtp->from = "Report Hub <hub@example.net>";
  const Report first = report(9), second = report(10);
  std::string reason;
  {
    Desksend out(cfg);
    REQUIRE(deliverAll(out, {{first, deliverFor(first, 1)}}, reason) == wire::Status::ok);
  }
  REQUIRE(server.messages().size() == 2);
  for (const auto& f : server.messages()) {
    const auto m = parseMail(readFile(f));
    CHECK(header(m, "x-mailfrom") == "hub@example.net");
    CHECK(header(m, "from") == "Report Hub <hub@example.net>");
    CHECK(header(m, "x-rcptto") == header(m, "to"));
  }
  // The Maildir copies use the output's own From and the SMTP domain for bare users.
  const auto local = parseMail(readFile(filesIn(dir / "mail/alice/new").at(0)));
  CHECK(header(local, "from") == "reporthub@alpha");
  CHECK(header(local, "to") == "alice@example.net");

  Desksend out(cfg);
  server.stop();
  // Relay down: Maildir delivers, SMTP asks for a retry, naming the relay.
  CHECK(deliverAll(out, {{first, deliverFor(first, 2)}, {second, deliverFor(second, 3)}}, reason) ==
        wire::Status::retry);
  CHECK(reason.find(server.url()) != std::string::npos);
  CHECK(filesIn(dir / "mail/alice/new").size() == 2);
  server.start();
  // The hub resends: only what the relay has not had goes out.
  REQUIRE(deliverAll(out, {{second, deliverFor(second, 3)}}, reason) == wire::Status::ok);
  CHECK(server.messages().size() == 4);
  CHECK(filesIn(dir / "mail/alice/new").size() == 2);
  CHECK(filesIn(dir / "mail/bob/new").size() == 2);
}

TEST_CASE("an SMTP recipient refused for good fails the report, others still get it",
          "[desksend][smtp]") {
  CurlGlobal curl;
  TempDir dir;
  SmtpServer server({.picky = true});
  auto cfg = makeConfig(dir, {"perm", "alice"});
  cfg.outputs.desksend->smtp = config::SmtpSettings{};
  cfg.outputs.desksend->smtp->url = server.url();
  cfg.outputs.desksend->smtp->domain = "example.net";
  Desksend out(cfg);
  const Report r = report(11);
  std::string reason;
  CHECK(deliverAll(out, {{r, deliverFor(r, 1, {"perm", "alice"})}}, reason) ==
        wire::Status::failed);
  CHECK(reason.find("perm@example.net") != std::string::npos);
  CHECK(reason.find("550") != std::string::npos);
  CHECK(server.messages().size() == 1);
  CHECK(filesIn(dir / "mail/perm/new").size() == 1);  // the Maildir copy is not affected
  CHECK(out.counters().rejected == 1);
}

TEST_CASE("SMTP AUTH with the password file; a wrong password is a retry", "[desksend][smtp]") {
  CurlGlobal curl;
  TempDir dir;
  SmtpServer server({.user = "reporthub", .password = "s3cret pass"});
  auto cfg = makeConfig(dir, {"alice"});
  cfg.outputs.desksend->smtp = config::SmtpSettings{};
  auto& smtp = *cfg.outputs.desksend->smtp;
  smtp.url = server.url();
  smtp.domain = "example.net";
  smtp.user = "reporthub";
  smtp.password_file = dir.write("smtp.password", "s3cret pass\nsecond line\n");  // first line
  std::string reason;
  {
    Desksend out(cfg);
    const Report r = report(12);
    CHECK(deliverAll(out, {{r, deliverFor(r, 1, {"alice"})}}, reason) == wire::Status::ok);
    CHECK(server.messages().size() == 1);
  }
  dir.write("smtp.password", "wrong\n");
  {
    Desksend out(cfg);
    const Report r = report(13);
    CHECK(deliverAll(out, {{r, deliverFor(r, 1, {"alice"})}}, reason) == wire::Status::retry);
    INFO(reason);
    CHECK(reason.find("535") != std::string::npos);
    CHECK(server.messages().size() == 1);
  }
  std::filesystem::remove(smtp.password_file);
  CHECK_THROWS_WITH(Desksend(cfg), Catch::Contains("outputs.desksend.smtp.password_file " +
                                                   smtp.password_file.string()));
}
