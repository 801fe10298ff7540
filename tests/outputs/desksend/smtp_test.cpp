// desksend's SMTP client against a real SMTP server (aiosmtpd on a loopback port chosen at
// run time): delivery over one kept connection, dot-stuffing, STARTTLS, and which failures
// are retried and which are final.
#include "outputs/desksend/smtp.h"

#include "outputs/desksend/message.h"
#include "tests/support/mail_parse.h"
#include "tests/support/smtp_server.h"

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace reporthub;
using namespace reporthub::outputs::desksend;
using reporthub::test::header;
using reporthub::test::parseMail;
using reporthub::test::readFile;
using reporthub::test::SmtpServer;
using Tls = reporthub::config::SmtpSettings::Tls;

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

Report report(const std::string& id, const std::string& text) {
  Report r;
  r.id = id;
  r.ts_ns = 1'763'780'496'377'000'000;
  r.origin = "alpha";
  r.source = "jcl";
  r.category = "DISK";
  r.severity = Severity::error;
  r.text = text;
  return r;
}

SmtpOptions options(const SmtpServer& server, Tls tls = Tls::try_) {
  SmtpOptions o;
  o.url = server.url();
  o.mail_from = "reporthub@alpha";
  o.tls = tls;
  o.timeout = std::chrono::seconds(10);
  return o;
}

}  // namespace

TEST_CASE("messages reach a real SMTP server over one connection", "[desksend][smtp]") {
  CurlGlobal curl;
  SmtpServer server;
  SmtpClient client(options(server));
  const Report first = report("01a20133-b7f9-7e7c-b24c-000000000001", "first\n.\nafter a dot");
  for (const char* user : {"alice@example.net", "bob@example.net"}) {
    const auto out = client.send(user, formatMessage(first, "reporthub@alpha", user));
    INFO(out.reason);
    REQUIRE(out.status == wire::Status::ok);
  }
  const auto out = client.send("alice@example.net",
                               formatMessage(report("01a20133-b7f9-7e7c-b24c-000000000002", "2nd"),
                                             "reporthub@alpha", "alice@example.net"));
  REQUIRE(out.status == wire::Status::ok);
  CHECK(client.connections() == 1);

  const auto files = server.messages();
  REQUIRE(files.size() == 3);
  int to_alice_first = 0;
  for (const auto& f : files) {
    const auto m = parseMail(readFile(f));
    REQUIRE(m.is_object());
    CHECK(header(m, "x-mailfrom") == "reporthub@alpha");  // the envelope, as received
    if (header(m, "message-id") != "<01a20133-b7f9-7e7c-b24c-000000000001@alpha>") continue;
    CHECK(header(m, "x-rcptto") == header(m, "to"));
    CHECK(header(m, "subject") == "[DISK] error from alpha: first ...");
    // A line holding only "." went through dot-stuffing and came back whole.
    CHECK(m["body"].get<std::string>().starts_with("first\n.\nafter a dot\n"));
    if (header(m, "to") == "alice@example.net") ++to_alice_first;
  }
  CHECK(to_alice_first == 1);
}

TEST_CASE("a relay that is down is a retry, naming the relay", "[desksend][smtp]") {
  CurlGlobal curl;
  SmtpServer server;
  SmtpClient client(options(server));
  server.stop();
  const auto out = client.send("alice@example.net", "Subject: x\r\n\r\nbody\r\n");
  CHECK(out.status == wire::Status::retry);
  CHECK(out.reason.find(server.url()) != std::string::npos);
  CHECK(out.reason.find("connect") != std::string::npos);
  // Back up on the same port: the same client delivers again.
  server.start();
  CHECK(client.send("alice@example.net", "Subject: x\r\n\r\nbody\r\n").status == wire::Status::ok);
  CHECK(server.messages().size() == 1);
}

TEST_CASE("a 5xx to the recipient or the message is final, a 4xx is a retry", "[desksend][smtp]") {
  CurlGlobal curl;
  SmtpServer server({.picky = true});
  SmtpClient client(options(server));
  const std::string msg = "Subject: x\r\n\r\nbody\r\n";

  auto perm = client.send("perm@example.net", msg);
  CHECK(perm.status == wire::Status::failed);
  CHECK(perm.reason.find("550 5.1.1 <perm@example.net>: no such user here") != std::string::npos);

  auto temp = client.send("temp@example.net", msg);
  CHECK(temp.status == wire::Status::retry);
  CHECK(temp.reason.find("451 4.3.0") != std::string::npos);

  auto content = client.send("alice@example.net", "Subject: x\r\n\r\nREJECTME\r\n");
  CHECK(content.status == wire::Status::failed);
  CHECK(content.reason.find("554 5.6.0 content refused") != std::string::npos);

  // After refusals the client still delivers.
  CHECK(client.send("alice@example.net", msg).status == wire::Status::ok);
  CHECK(server.messages().size() == 1);
}

TEST_CASE("STARTTLS is used when offered and refusing it is a retry", "[desksend][smtp]") {
  CurlGlobal curl;
  SmtpServer server({.starttls = true});
  const std::string msg = "Subject: over TLS\r\n\r\nbody\r\n";
  {
    auto o = options(server, Tls::try_);
    o.ca_file = server.certificate().string();
    SmtpClient client(o);
    const auto out = client.send("alice@example.net", msg);
    INFO(out.reason);
    CHECK(out.status == wire::Status::ok);
  }
  {
    // The server insists on STARTTLS (530 to MAIL FROM): about the relay, not the message.
    SmtpClient client(options(server, Tls::never));
    const auto out = client.send("alice@example.net", msg);
    CHECK(out.status == wire::Status::retry);
    CHECK(out.reason.find("530") != std::string::npos);
  }
  {
    // Without the certificate's CA the server cannot be verified: retry, never in the clear.
    SmtpClient client(options(server, Tls::try_));
    CHECK(client.send("alice@example.net", msg).status == wire::Status::retry);
  }
  CHECK(server.messages().size() == 1);
}

TEST_CASE("tls required against a relay without STARTTLS is a retry", "[desksend][smtp]") {
  CurlGlobal curl;
  SmtpServer server;
  SmtpClient client(options(server, Tls::required));
  const auto out = client.send("alice@example.net", "Subject: x\r\n\r\nbody\r\n");
  CHECK(out.status == wire::Status::retry);
  CHECK(server.messages().empty());
}

TEST_CASE("classification of SMTP refusals", "[desksend][smtp]") {
  CHECK(classifySmtpFailure("RCPT", 550) == wire::Status::failed);
  CHECK(classifySmtpFailure("DATA", 554) == wire::Status::failed);
  CHECK(classifySmtpFailure("RCPT", 451) == wire::Status::retry);
  CHECK(classifySmtpFailure("MAIL", 553) == wire::Status::retry);
  CHECK(classifySmtpFailure("AUTH", 535) == wire::Status::retry);
  CHECK(classifySmtpFailure("", 0) == wire::Status::retry);
}
