// The mail message desksend writes, read back by an independent parser (Python's email
// package): headers, encoded words, transfer encodings, line ends and lengths.
#include "outputs/desksend/message.h"

#include "tests/support/mail_parse.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::outputs::desksend;
using reporthub::test::header;
using reporthub::test::parseMail;

namespace {

Report sample() {
  Report r;
  r.id = "01a20133-b7f9-7e7c-b24c-dad7e9ed513d";
  r.ts_ns = 1'763'780'496'377'000'000;  // 2025-11-22T03:01:36.377Z, a Saturday
  r.origin = "alpha";
  r.source = "jcl";
  r.category = "DISK";
  r.severity = Severity::warning;
  r.text = "root is 91% full";
  r.attrs = {{"mount", "/"}, {"host", "db1"}};
  return r;
}

}  // namespace

TEST_CASE("a message carries the report in its headers and body", "[desksend]") {
  Report r = sample();
  r.via = {"beta", "gamma"};
  const std::string msg = formatMessage(r, "reporthub@alpha", "alice@example.net");
  const auto m = parseMail(msg);
  REQUIRE(m.is_object());
  INFO(msg);
  CHECK(m["defects"].empty());
  CHECK(m["only_crlf"] == true);
  CHECK(m["ascii"] == true);
  CHECK(header(m, "from") == "reporthub@alpha");
  CHECK(header(m, "to") == "alice@example.net");
  CHECK(header(m, "date") == "Sat, 22 Nov 2025 03:01:36 +0000");
  CHECK(header(m, "message-id") == "<01a20133-b7f9-7e7c-b24c-dad7e9ed513d@alpha>");
  CHECK(header(m, "subject") == "[DISK] warning from alpha: root is 91% full");
  CHECK(header(m, "mime-version") == "1.0");
  CHECK(header(m, "auto-submitted") == "auto-generated");
  CHECK(header(m, "x-reporthub-id") == r.id);
  CHECK(header(m, "x-reporthub-severity") == "warning");
  CHECK(m["content_type"] == "text/plain");
  CHECK(m["charset"] == "utf-8");
  CHECK(header(m, "content-transfer-encoding") == "7bit");
  for (const char* name : {"from", "to", "date", "message-id", "subject"})
    CHECK(m["headers"][name].size() == 1);

  const std::string body = m["body"];
  CHECK(body.starts_with("root is 91% full\n\n"));
  for (const char* line :
       {"Category: DISK\n", "Severity: warning\n", "Origin:   alpha\n", "Source:   jcl\n",
        "Time:     2025-11-22T03:01:36.377Z\n", "Via:      beta, gamma\n",
        "Id:       01a20133-b7f9-7e7c-b24c-dad7e9ed513d\n", "Attributes:\n", "  host: db1\n",
        "  mount: /\n"}) {
    CHECK(body.find(line) != std::string::npos);
  }
}

TEST_CASE("the same report always gives the same message", "[desksend]") {
  CHECK(formatMessage(sample(), "a@b", "c@d") == formatMessage(sample(), "a@b", "c@d"));
  Report other = sample();
  other.id = "01a20133-b7f9-7e7c-b24c-dad7e9ed513e";
  CHECK(messageId(other) != messageId(sample()));
}

TEST_CASE("non-ASCII header text becomes encoded words and reads back", "[desksend]") {
  Report r = sample();
  r.category = "DISQUE";
  r.origin = "zürich";
  r.text =
      "Plattenplatz fast erschöpft: 91 % belegt auf /srv — bitte prüfen, "
      "sonst fällt der Dienst aus ✓ und noch mehr Text danach";
  r.attrs = {{"Ort", "Zürich"}};
  const std::string msg = formatMessage(r, "reporthub@alpha", "bob@example.net");
  INFO(msg);
  const auto m = parseMail(msg);
  REQUIRE(m.is_object());
  CHECK(m["defects"].empty());
  CHECK(m["ascii"] == true);  // on the wire: encoded words and quoted-printable
  CHECK(m["longest_line"].get<int>() <= 78);
  const std::string subject = header(m, "subject");
  CHECK(subject.starts_with("[DISQUE] warning from zürich: Plattenplatz fast erschöpft: 91 %"));
  CHECK(subject.ends_with(" ..."));  // the text is cut (on a character boundary)
  CHECK(header(m, "x-reporthub-origin") == "zürich");
  CHECK(header(m, "content-transfer-encoding") == "quoted-printable");
  const std::string body = m["body"];
  CHECK(body.starts_with(r.text + "\n"));
  CHECK(body.find("  Ort: Zürich\n") != std::string::npos);
  // The Message-ID stays ASCII whatever the origin.
  CHECK(header(m, "message-id") == "<" + r.id + "@z=C3=BCrich>");
}

TEST_CASE("header injection and odd text cannot break the message", "[desksend]") {
  Report r = sample();
  r.category = "X\r\nBcc: mallory@evil";
  r.text = std::string("line one\nline two\r\n.\r\n=?utf-8?B?Zm9v?= \x01\xff") +
           std::string(1200, 'x') + "   ";
  r.attrs = {{"k\ney", "v\r\nal"}};
  const std::string msg = formatMessage(r, "reporthub@alpha", "alice@example.net");
  INFO(msg);
  const auto m = parseMail(msg);
  REQUIRE(m.is_object());
  CHECK(m["defects"].empty());
  CHECK(m["only_crlf"] == true);
  CHECK(m["longest_line"].get<int>() <= 998);
  CHECK_FALSE(m["headers"].contains("bcc"));
  CHECK(header(m, "x-reporthub-category") == "X Bcc: mallory@evil");
  // "=?" in plain text must not be decoded as if it were an encoded word.
  const std::string body = m["body"];
  CHECK(body.starts_with("line one\nline two\n.\n=?utf-8?B?Zm9v?=  \xEF\xBF\xBD" +
                         std::string(1200, 'x') + "   \n"));
  CHECK(body.find("  k ey: v al\n") != std::string::npos);
  CHECK(header(m, "subject") == "[X Bcc: mallory@evil] warning from alpha: line one ...");
}

TEST_CASE("a long ASCII subject is folded at spaces and unfolds to the same text", "[desksend]") {
  Report r = sample();
  r.text.clear();
  for (int i = 0; i < 12; ++i)
    r.text += "word" + std::to_string(i) + " ";
  r.text += "end";
  const std::string msg = formatMessage(r, "reporthub@alpha", "a@b");
  const auto m = parseMail(msg);
  REQUIRE(m.is_object());
  CHECK(m["longest_line"].get<int>() <= 78);
  CHECK(header(m, "subject") == subjectText(r));
  CHECK(msg.find("Subject: [DISK]") != std::string::npos);
  CHECK(headerField("Subject", subjectText(r)).find("\r\n ") != std::string::npos);
}

TEST_CASE("headers: folding, encoding and control characters", "[desksend]") {
  CHECK(headerField("Subject", "plain") == "Subject: plain\r\n");
  CHECK(headerField("Subject", "  two\t\tspaces \n ") == "Subject: two spaces\r\n");
  CHECK(headerField("Subject", "é") == "Subject: =?utf-8?B?w6k=?=\r\n");
  // A word too long to fold is split into encoded words, each within 75 characters.
  const std::string folded = headerField("X", std::string(2000, 'a'));
  std::size_t start = 0, longest = 0;
  for (std::size_t nl; (nl = folded.find("\r\n", start)) != std::string::npos; start = nl + 2)
    longest = std::max(longest, nl - start);
  CHECK(longest <= 76);
}

TEST_CASE("quoted-printable keeps lines short and trailing space visible", "[desksend]") {
  CHECK(quotedPrintable("a=b\r\n") == "a=3Db\r\n");
  CHECK(quotedPrintable("end \r\n") == "end=20\r\n");
  CHECK(quotedPrintable("\xC3\xA9") == "=C3=A9");
  const std::string long_line = quotedPrintable(std::string(200, 'x'));
  CHECK(long_line.find("=\r\n") == 75);
}

TEST_CASE("invalid UTF-8 is replaced, valid UTF-8 kept", "[desksend]") {
  CHECK(sanitizeUtf8("ok é ✓ 😀") == "ok é ✓ 😀");
  CHECK(sanitizeUtf8("\xff") == "\xEF\xBF\xBD");
  CHECK(sanitizeUtf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  CHECK(sanitizeUtf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(sanitizeUtf8("a\xE2\x9C") == "a\xEF\xBF\xBD\xEF\xBF\xBD");                // cut short
}

TEST_CASE("addresses: domain for bare users, bare address from a display form", "[desksend]") {
  CHECK(mailAddress("alice", "example.net") == "alice@example.net");
  CHECK(mailAddress("carol@other.org", "example.net") == "carol@other.org");
  CHECK(bareAddress("reporthub@alpha") == "reporthub@alpha");
  CHECK(bareAddress("Report Hub <hub@example.net>") == "hub@example.net");
}

TEST_CASE("name parts encode injectively and decode back", "[desksend]") {
  for (const char* id : {"01a20133-b7f9-7e7c-b24c-dad7e9ed513d", "node-7:42", "a.b/c=d", "x_y"}) {
    const auto enc = encodeNamePart(id);
    CHECK(enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                "-_=") == std::string::npos);
    CHECK(decodeNamePart(enc) == std::optional<std::string>(id));
  }
  CHECK(encodeNamePart("a.b") != encodeNamePart("a=2Eb"));
  CHECK_FALSE(decodeNamePart("a=2").has_value());
  CHECK_FALSE(decodeNamePart("a.b").has_value());
}

TEST_CASE("From with a display name: atoms, quoted or encoded, the address intact", "[desksend]") {
  CHECK(addressField("From", "hub@example.net") == "From: hub@example.net\r\n");
  CHECK(addressField("From", "Report Hub <hub@example.net>") ==
        "From: Report Hub <hub@example.net>\r\n");
  CHECK(addressField("From", "Ops, Alpha <hub@example.net>") ==
        "From: \"Ops, Alpha\" <hub@example.net>\r\n");
  for (const char* from : {"Report Hub <hub@example.net>", "Ops, \"Alpha\" <hub@example.net>",
                           "Zürich Überwachung <hub@example.net>"}) {
    const auto m = parseMail(formatMessage(sample(), from, "alice@example.net"));
    REQUIRE(m.is_object());
    INFO(from);
    CHECK(m["defects"].empty());
    CHECK(m["ascii"] == true);
    CHECK(header(m, "from").ends_with("<hub@example.net>"));
  }
  const auto m = parseMail(formatMessage(sample(), "Zürich Überwachung <hub@example.net>", "a@b"));
  CHECK(header(m, "from") == "Zürich Überwachung <hub@example.net>");
}
