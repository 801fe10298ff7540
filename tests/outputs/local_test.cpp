// The operator-log line formats and reading a report id back from a line, which is how the
// local output recognises redeliveries after a crash.
#include "outputs/local/local.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using reporthub::outputs::local::formatJson;
using reporthub::outputs::local::formatText;
using reporthub::outputs::local::idOfLine;

namespace {
Report sample() {
  Report r;
  r.id = "01a20133-b7f9-7e7c-b24c-dad7e9ed513d";
  r.ts_ns = 1'763'780'496'377'000'000;
  r.origin = "alpha";
  r.source = "jcl";
  r.category = "DISK";
  r.severity = Severity::error;
  r.text = "disk\nalmost full";
  r.attrs = {{"mount", "/"}};
  return r;
}
}  // namespace

TEST_CASE("text lines carry time, origin, category, severity, text, attrs and the id", "[local]") {
  CHECK(formatText(sample()) ==
        "2025-11-22T03:01:36.377Z alpha DISK error disk almost full {mount=/} "
        "[01a20133-b7f9-7e7c-b24c-dad7e9ed513d]");
}

TEST_CASE("control characters anywhere in a text line become spaces", "[local]") {
  Report r = sample();
  r.text = std::string("\tstart\r\n\x7f mid\x01\x1f end\n", 20);
  r.attrs = {{"k\x1b", std::string("\0v\n", 3)}};
  r.via = {"si\tte", "region\x7f"};
  CHECK(formatText(r) ==
        "2025-11-22T03:01:36.377Z alpha DISK error  start    mid   end  {k = v } "
        "(via si te > region ) [01a20133-b7f9-7e7c-b24c-dad7e9ed513d]");
}

TEST_CASE("every control byte at every place in a word becomes a space", "[local]") {
  // Text is scanned 8 bytes at a time: each byte value at each position of two words.
  Report r = sample();
  r.attrs.clear();
  for (int c = 0; c < 256; ++c) {
    for (std::size_t pos = 0; pos < 17; ++pos) {
      r.text.assign(17, 'a');
      r.text[pos] = static_cast<char>(c);
      std::string want = r.text;
      if (c < 0x20 || c == 0x7f) want[pos] = ' ';
      INFO("byte " << c << " at " << pos);
      CHECK(formatText(r).find(" error " + want + " [") != std::string::npos);
    }
  }
}

TEST_CASE("a report from another node shows its via in text lines", "[local]") {
  Report r = sample();
  r.origin = "site";
  r.via = {"site", "region"};
  const std::string line = formatText(r);
  CHECK(line ==
        "2025-11-22T03:01:36.377Z site DISK error disk almost full {mount=/} (via site > region) "
        "[01a20133-b7f9-7e7c-b24c-dad7e9ed513d]");
  CHECK(idOfLine(line) == r.id);
  CHECK(formatJson(r).find("\"via\":[\"site\",\"region\"]") != std::string::npos);
}

TEST_CASE("the id is read back from both formats", "[local]") {
  Report r = sample();
  CHECK(idOfLine(formatText(r)) == r.id);
  CHECK(idOfLine(formatJson(r)) == r.id);
  // An attribute named "id" sorts before the report's own id in JSON: not confused.
  r.attrs["id"] = "not-the-report-id";
  CHECK(idOfLine(formatJson(r)) == r.id);
  // Ids from other sources may have other lengths.
  r.id = "node-7:42";
  CHECK(idOfLine(formatText(r)) == "node-7:42");
  CHECK(idOfLine(formatJson(r)) == "node-7:42");
  // Text that looks like an id, but in the middle of a line, is not one.
  r.text = "see [abc] later";
  CHECK(idOfLine(formatText(r)) == "node-7:42");
}

TEST_CASE("lines without an id give none", "[local]") {
  CHECK(idOfLine("").empty());
  CHECK(idOfLine("a line from before ids []").empty());
  CHECK(idOfLine("text [has space]").empty());
  CHECK(idOfLine("{\"text\":\"no id\"}").empty());
  CHECK(idOfLine("{broken json").empty());
}

TEST_CASE("report ids are printable, bounded and bracket-free", "[report]") {
  CHECK(validReportId("01a20133-b7f9-7e7c-b24c-dad7e9ed513d"));
  CHECK(validReportId("x"));
  CHECK_FALSE(validReportId(""));
  CHECK_FALSE(validReportId(std::string(129, 'a')));
  for (const char* bad : {"a b", "a]", "[a", "a\"b", "a\\b", "a\nb"})
    CHECK_FALSE(validReportId(bad));
  CHECK(validReportId(std::string(128, 'a')));
  // Every byte value: printable ASCII but space, brackets, quote and backslash.
  for (int c = 0; c < 256; ++c) {
    INFO("byte " << c);
    const bool printable = c > 0x20 && c < 0x7f;
    const bool excluded = c == '[' || c == ']' || c == '"' || c == '\\';
    CHECK(validReportId(std::string("id") + static_cast<char>(c)) == (printable && !excluded));
  }
}

TEST_CASE("text lines with several attributes and hops, appended after earlier lines", "[local]") {
  // Lines are written into the batch buffer in place, sized up front: each piece counts.
  Report r = sample();
  r.attrs = {{"b", "2"}, {"a", ""}, {"c", "three"}};
  r.via = {"site", "region", "hq"};
  std::string buffer = "earlier line\n";
  reporthub::outputs::local::appendText(buffer, r);
  CHECK(buffer ==
        "earlier line\n2025-11-22T03:01:36.377Z alpha DISK error disk almost full "
        "{a=, b=2, c=three} (via site > region > hq) [01a20133-b7f9-7e7c-b24c-dad7e9ed513d]");
}
