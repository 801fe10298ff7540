// The RFC 5424 formatter and RFC 6587 framing: PRI arithmetic, the header fields and their
// limits, MSGID rules, structured-data escaping and names, UTF-8 repair, truncation.
#include "outputs/ds_send/rfc5424.h"

#include "outputs/ds_send/utf8.h"

#include <catch2/catch.hpp>

#include <string>

using namespace reporthub;
using namespace reporthub::outputs::ds_send;

namespace {

const std::string kBom = "\xEF\xBB\xBF";

Report sample() {
  Report r;
  r.id = "01a20133-b7f9-7e7c-b24c-dad7e9ed513d";
  r.ts_ns = 1'763'780'496'377'123'456;
  r.origin = "alpha";
  r.source = "jcl";
  r.category = "DISK";
  r.severity = Severity::error;
  r.text = "root is 91% full";
  return r;
}

std::string format(const Report& r, FormatNotes& notes, FormatOptions o = {}) {
  return formatMessage(r, o, notes);
}

std::string format(const Report& r, FormatOptions o = {}) {
  FormatNotes notes;
  return formatMessage(r, o, notes);
}

// The structured-data element: from " [" to the "]" before the MSG (or the end).
std::string sdOf(const std::string& m) {
  const auto start = m.find(" [");
  const auto end = m.find("] " + kBom);
  return m.substr(start + 1, (end == std::string::npos ? m.size() - 1 : end) - start);
}

}  // namespace

TEST_CASE("a report as an RFC 5424 message, field by field", "[ds_send]") {
  CHECK(format(sample()) ==
        "<131>1 2025-11-22T03:01:36.377123Z alpha reporthub - DISK "
        "[reporthub@32473 id=\"01a20133-b7f9-7e7c-b24c-dad7e9ed513d\" category=\"DISK\" "
        "source=\"jcl\"] " +
            kBom + "root is 91% full");
}

TEST_CASE("PRI is facility times 8 plus the syslog severity of the report", "[ds_send]") {
  Report r = sample();
  FormatOptions o;
  const std::pair<Severity, int> severities[] = {
      {Severity::critical, 2}, {Severity::error, 3}, {Severity::warning, 4}, {Severity::info, 6}};
  for (int facility : {0, 1, 16, 23}) {
    o.facility = facility;
    for (const auto& [severity, syslog_severity] : severities) {
      r.severity = severity;
      const std::string pri = "<" + std::to_string(facility * 8 + syslog_severity) + ">1 ";
      CHECK(format(r, o).starts_with(pri));
    }
  }
  o.facility = 0;
  r.severity = Severity::critical;
  CHECK(format(r, o).starts_with("<2>1 "));  // kern.crit: no leading zero
}

TEST_CASE("the timestamp is UTC with microseconds, or nil when RFC 3339 cannot write it",
          "[ds_send]") {
  Report r = sample();
  r.ts_ns = 0;
  CHECK(format(r).find(" 1970-01-01T00:00:00.000000Z ") != std::string::npos);
  r.ts_ns = -1;  // one ns before the epoch: the second before, 999999 us
  CHECK(format(r).find(" 1969-12-31T23:59:59.999999Z ") != std::string::npos);
  r.ts_ns = INT64_MAX;  // year 2262: still four digits
  CHECK(format(r).find(" 2262-04-11T23:47:16.854775Z ") != std::string::npos);
  r.ts_ns = INT64_MIN;  // year 1677: fine too
  CHECK(format(r).find(" 1677-09-21T00:12:43.145224Z ") != std::string::npos);
}

TEST_CASE("MSGID is the category when it fits, else nil with the category in the data",
          "[ds_send]") {
  Report r = sample();
  auto msgid = [&](const std::string& category) {
    r.category = category;
    const std::string m = format(r);
    // <PRI>1 TS HOST APP PROCID MSGID
    std::size_t pos = 0;
    for (int i = 0; i < 5; ++i)
      pos = m.find(' ', pos) + 1;
    return m.substr(pos, m.find(' ', pos) - pos);
  };
  CHECK(msgid("DISK") == "DISK");
  CHECK(msgid(std::string(32, 'A')) == std::string(32, 'A'));
  CHECK(msgid(std::string(33, 'A')) == "-");
  CHECK(msgid("DISK FULL") == "-");
  CHECK(msgid("Plattenprüfung") == "-");
  CHECK(msgid("-") == "-");
  CHECK(msgid("") == "-");
  r.category = "DISK FULL";
  CHECK(sdOf(format(r)).find(" category=\"DISK FULL\"") != std::string::npos);
  CHECK(validMsgId("a=b]\"c"));  // MSGID allows what SD-NAMEs do not
  CHECK_FALSE(validSdName("a=b"));
}

TEST_CASE("via joins the nodes with commas, and is left out when empty", "[ds_send]") {
  Report r = sample();
  CHECK(sdOf(format(r)).find("via=") == std::string::npos);
  r.via = {"site", "region"};
  CHECK(sdOf(format(r)).ends_with(" via=\"site,region\"]"));
}

TEST_CASE("param values escape quote, backslash and closing bracket", "[ds_send]") {
  Report r = sample();
  r.attrs = {{"path", "C:\\dir\\\"x\" [1]"}};
  r.source = "a]b";
  const std::string sd = sdOf(format(r));
  CHECK(sd.find(" source=\"a\\]b\"") != std::string::npos);
  CHECK(sd.find(" path=\"C:\\\\dir\\\\\\\"x\\\" [1\\]\"]") != std::string::npos);
}

TEST_CASE("attrs become params, and names that are no SD-NAME are left out and counted",
          "[ds_send]") {
  Report r = sample();
  r.attrs = {{"mount", "/"},
             {"has space", "x"},
             {"a=b", "x"},
             {"quote\"d", "x"},
             {"br]acket", "x"},
             {std::string(33, 'n'), "x"},
             {std::string(32, 'n'), "ok"},
             {"", "x"},
             {"ümlaut", "x"},
             {"id", "spoofed"}};
  FormatNotes notes;
  const std::string m = format(r, notes);
  const std::string sd = sdOf(m);
  CHECK(sd.find(" mount=\"/\"") != std::string::npos);
  CHECK(sd.find(" " + std::string(32, 'n') + "=\"ok\"") != std::string::npos);
  CHECK(notes.bad_attr_names == 8);
  CHECK(sd.find("spoofed") == std::string::npos);
  CHECK(sd.find("x\"") == std::string::npos);
  CHECK(m.ends_with("] " + kBom + "root is 91% full"));  // the frame is intact
}

TEST_CASE("invalid UTF-8 in text and values becomes U+FFFD", "[ds_send]") {
  Report r = sample();
  r.text = "bad \xC3 here \xFF and \xED\xA0\x80 end";
  r.attrs = {{"v", "\x80x"}};
  FormatNotes notes;
  const std::string m = format(r, notes);
  CHECK(m.ends_with(kBom + "bad \xEF\xBF\xBD here \xEF\xBF\xBD and \xEF\xBF\xBD\xEF\xBF\xBD"
                           "\xEF\xBF\xBD end"));
  CHECK(sdOf(m).find(" v=\"\xEF\xBF\xBDx\"") != std::string::npos);
  CHECK(notes.utf8_replaced == 6);
}

TEST_CASE("UTF-8 repair keeps valid text and replaces each maximal invalid subpart", "[ds_send]") {
  auto repaired = [](std::string_view in, std::size_t expected_replaced) {
    std::string out;
    CHECK(appendValidUtf8(out, in) == expected_replaced);
    return out;
  };
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(repaired("plain ascii", 0) == "plain ascii");
  CHECK(repaired("Grüße, 日本, \xF0\x9F\x98\x80", 0) == "Grüße, 日本, \xF0\x9F\x98\x80");
  CHECK(repaired("\xC0\xAF", 2) == fffd + fffd);                        // overlong '/'
  CHECK(repaired("\xE0\x80\xAF", 3) == fffd + fffd + fffd);             // overlong, 3 bytes
  CHECK(repaired("\xF4\x90\x80\x80", 4) == fffd + fffd + fffd + fffd);  // past U+10FFFF
  CHECK(repaired("\xE6\x97", 1) == fffd);                               // cut short at the end
  CHECK(repaired("\xE6\x97x", 1) == fffd + "x");                        // cut short before ASCII
  CHECK(repaired("\xF0\x9F\x98", 1) == fffd);
  CHECK(repaired("a\x80\x80z", 2) == "a" + fffd + fffd + "z");
  CHECK(repaired(std::string_view("nul\0byte", 8), 0) == std::string("nul\0byte", 8));
}

TEST_CASE("cuts never split a character", "[ds_send]") {
  const std::string s = "a\xC3\xBC\xE6\x97\xA5";  // a, ü, 日
  CHECK(utf8Prefix(s, 10) == 6);
  CHECK(utf8Prefix(s, 6) == 6);
  CHECK(utf8Prefix(s, 5) == 3);
  CHECK(utf8Prefix(s, 4) == 3);
  CHECK(utf8Prefix(s, 2) == 1);
  CHECK(utf8Prefix(s, 0) == 0);
}

TEST_CASE("header fields are cut to their RFC limits and made printable", "[ds_send]") {
  Report r = sample();
  r.origin = std::string(300, 'h');
  FormatOptions o;
  o.app_name = std::string(60, 'a');
  FormatNotes notes;
  const std::string m = format(r, notes, o);
  CHECK(m.find(" " + std::string(255, 'h') + " " + std::string(48, 'a') + " - DISK ") !=
        std::string::npos);
  CHECK(notes.truncated);
  r.origin = "a b\tc";
  CHECK(format(r).find(" a_b_c reporthub ") != std::string::npos);
  r.origin = "";
  CHECK(format(r).find("Z - reporthub - DISK ") != std::string::npos);
}

TEST_CASE("a long text is cut to the message limit at a character boundary", "[ds_send]") {
  Report r = sample();
  r.text = std::string(20000, 'x');
  FormatNotes notes;
  std::string m = format(r, notes);
  CHECK(m.size() == 8192);
  CHECK(notes.truncated);
  CHECK(m.find("] " + kBom + "xxx") != std::string::npos);
  // Three-byte characters: one that would straddle the limit is left out whole.
  r.text.clear();
  for (int i = 0; i < 1000; ++i)
    r.text += "\xE6\x97\xA5";
  FormatOptions o;
  o.max_message = 1000;
  notes = {};
  m = format(r, notes, o);
  CHECK(notes.truncated);
  CHECK(m.size() <= 1000);
  CHECK(m.size() > 997);
  CHECK(m.ends_with("\xE6\x97\xA5"));
  std::string valid;
  CHECK(appendValidUtf8(valid, m) == 0);
  // A text that fits is not cut.
  r.text = "short";
  notes = {};
  CHECK(format(r, notes, o).ends_with(kBom + "short"));
  CHECK_FALSE(notes.truncated);
}

TEST_CASE("attrs that do not fit are left out whole and the text keeps its room", "[ds_send]") {
  Report r = sample();
  for (int i = 0; i < 20; ++i)
    r.attrs["a" + std::to_string(i)] = std::string(2000, 'v');  // each cut to 1024
  r.text = "the text";
  FormatNotes notes;
  const std::string m = format(r, notes);
  CHECK(m.size() <= 8192);
  CHECK(notes.attrs_left_out > 0);
  CHECK(notes.attrs_left_out < 20);
  CHECK(notes.truncated);  // the values were cut to 1024 bytes
  CHECK(m.ends_with("] " + kBom + "the text"));
  CHECK(m.find("=\"" + std::string(1024, 'v') + "\"") != std::string::npos);
  CHECK(m.find(std::string(1025, 'v')) == std::string::npos);
}

TEST_CASE("an escaped value is cut without separating a backslash from its character",
          "[ds_send]") {
  Report r = sample();
  r.attrs = {{"q", std::string(2000, '"')}};
  const std::string m = format(r);
  const std::string escaped_pair = "\\\"";
  std::string expected = " q=\"";
  for (int i = 0; i < 512; ++i)
    expected += escaped_pair;
  CHECK(m.find(expected + "\"]") != std::string::npos);
}

TEST_CASE("an empty text leaves MSG out", "[ds_send]") {
  Report r = sample();
  r.text.clear();
  CHECK(format(r).ends_with("source=\"jcl\"]"));
}

TEST_CASE("octet counting: the length in bytes, a space, the message", "[ds_send]") {
  std::string out;
  appendFrame(out, "<14>1 - - - - - -");
  appendFrame(out, "ü");
  CHECK(out == "17 <14>1 - - - - - -2 ü");
  Report r = sample();
  r.text = "zwei\nZeilen, ein Frame: ünïcödé";
  const std::string m = format(r);
  out.clear();
  appendFrame(out, m);
  CHECK(out == std::to_string(m.size()) + " " + m);
}
