// Tests of the compiled rules and the block scan (inputs/logscan/rules.h): templates, rule
// order and `continue`, long and unterminated lines, and that searching whole blocks finds
// exactly the lines a per-line match finds, for patterns of both kinds.
#include "inputs/logscan/rules.h"
#include "config/pattern.h"

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace reporthub;
using namespace reporthub::inputs::logscan;

namespace {

config::LogRule rule(const std::string& match, const std::string& text = "", bool cont = false,
                     const std::string& category = "APP") {
  config::LogRule r;
  r.match = match;
  r.text = text;
  r.cont = cont;
  r.category = category;
  return r;
}

struct Seen {
  std::size_t pos;
  std::size_t rule;
  std::string text;
  bool truncated;
  bool operator<(const Seen& o) const {
    return std::tie(pos, rule, text) < std::tie(o.pos, o.rule, o.text);
  }
  bool operator==(const Seen& o) const {
    return pos == o.pos && rule == o.rule && text == o.text && truncated == o.truncated;
  }
};

std::vector<Seen> scanAll(RuleSet& rs, std::string_view block, bool final = false,
                          std::vector<std::pair<std::size_t, std::size_t>>* longs = nullptr) {
  std::vector<Seen> out;
  rs.scan(
      block, final,
      [&](const Match& m) {
        out.push_back({m.line_pos, m.rule, rs.text(m), m.truncated});
      },
      [&](std::size_t pos, std::size_t len) {
        if (longs) longs->push_back({pos, len});
      });
  return out;
}

// The reference: each line its own subject, compiled as the config loader does.
std::vector<std::size_t> perLine(const std::string& pattern, std::string_view block,
                                 std::uint32_t max_line) {
  std::string error;
  pcre2_code* code = config::compileLogPattern(pattern, 0, error);
  REQUIRE(code);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  std::vector<std::size_t> hits;
  std::size_t s = 0;
  while (s < block.size()) {
    auto nl = block.find('\n', s);
    if (nl == std::string_view::npos) break;
    const auto line = block.substr(s, std::min<std::size_t>(nl - s, max_line));
    if (pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, md,
                    nullptr) >= 0) {
      hits.push_back(s);
    }
    s = nl + 1;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return hits;
}

}  // namespace

TEST_CASE("templates expand captures and braces", "[logscan]") {
  RuleSet rs({rule(R"(disk (\w+) failed \((\d+)\))", "disk {1} failed, code {2}: {0}"),
              rule(R"(a(b)?c)", "[{1}] {{literal}} {x} {9}"), rule(R"(WARN)")},
             1024);
  const std::string block = "12:00 disk sda failed (5)\nac\nWARN it\r\n";
  auto seen = scanAll(rs, block);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].text == "disk sda failed, code 5: disk sda failed (5)");
  CHECK(seen[0].pos == 0);
  // An unset group and a group beyond the pattern's expand to nothing; {x} is not a group.
  CHECK(seen[1].text == "[] {literal} {x} ");
  CHECK(seen[1].pos == 26);
  // Without a template the text is the whole line, without the \r of a CRLF line.
  CHECK(seen[2].text == "WARN it");
  CHECK(seen[2].rule == 2);
}

TEST_CASE("the first matching rule wins unless it says continue", "[logscan]") {
  RuleSet first({rule("ERROR"), rule("ERROR disk"), rule("disk")}, 1024);
  auto a = scanAll(first, "ERROR disk full\ndisk ok\n");
  REQUIRE(a.size() == 2);
  CHECK(a[0].rule == 0);
  CHECK(a[1].rule == 2);

  RuleSet cont({rule("ERROR", "", true), rule("ERROR disk"), rule("disk")}, 1024);
  auto b = scanAll(cont, "ERROR disk full\ndisk ok\n");
  REQUIRE(b.size() == 3);
  CHECK(b[0].rule == 0);
  CHECK(b[1].rule == 1);  // rule 1 has no continue: rule 2 is not tried on that line
  CHECK(b[2].rule == 2);
  CHECK(b[2].pos == 16);
}

TEST_CASE("an invalid pattern names the rule, the error and its offset", "[logscan]") {
  try {
    RuleSet rs({rule("ok"), rule("ERROR (\\d+")}, 1024);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("rule 2") != std::string::npos);
    CHECK(what.find("missing closing parenthesis") != std::string::npos);
    CHECK(what.find("at offset 10") != std::string::npos);
  }
}

TEST_CASE("long lines are cut to max_line for matching and text, and reported", "[logscan]") {
  RuleSet rs({rule("HEAD"), rule("TAIL")}, 16);
  const std::string lng = "HEAD " + std::string(40, 'x') + " TAIL";
  const std::string block = "short HEAD\n" + lng + "\n" + std::string(20, 'y') + "\nTAIL\n";
  std::vector<std::pair<std::size_t, std::size_t>> longs;
  auto seen = scanAll(rs, block, false, &longs);
  REQUIRE(longs.size() == 2);
  CHECK(longs[0] == std::make_pair<std::size_t, std::size_t>(11, lng.size()));
  CHECK(longs[1].second == 20);
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].pos == 11);
  CHECK(seen[1].truncated);
  CHECK(seen[1].text == lng.substr(0, 16));  // TAIL lies beyond max_line: not matched
  CHECK(seen[2].rule == 1);
  CHECK_FALSE(seen[2].truncated);
}

TEST_CASE("an unterminated last line counts only when the block is final", "[logscan]") {
  RuleSet rs({rule("x")}, 1024);
  CHECK(scanAll(rs, "a x\nb x", false).size() == 1);
  CHECK(scanAll(rs, "a x\nb x", true).size() == 2);
}

TEST_CASE("block search finds exactly the lines a per-line match finds", "[logscan]") {
  const std::vector<std::string> patterns = {
      // searched over blocks as they are
      "ab",
      "^a",
      "b$",
      "^$",
      "a.c",
      "(a|b)c+",
      "\\bab\\b",
      "[^a\\n]+c",
      "(?i)AB",
      "c{2,}",
      "(?<=a)b",
      "(?<!a)b",
      "a(?=b)",
      "a(?!b)",
      "^(?!a).*b$",
      "x*",
      "\\d+ \\w",
      "[[:digit:]]$",
      // searched over blocks with guarded atoms
      "a[^x]*b",
      "a\\s+b",
      "(?s)a.*c",
      "[\\s\\S]c",
      "\\D{3}$",
      "[^ ]+ c$",
      "(?<=\\s)b",
      "(?<!\\s)b",
      "a(?=\\s)",
      "a(?!\\W)",
      "\\W$",
      "^\\s*$",
      "(a\\s)\\1",
      "(?>\\s*)x",
      "a\\s*+b",
      "[^1]{3}",
      "\\n|a",
      // line by line (anchored at the subject's edges, or a verb)
      "\\Aa",
      "b\\z",
      "(*COMMIT)ab",
  };
  std::mt19937 rng(42);
  const std::string alphabet = "abc  1x\t\r";
  std::string block;
  for (int line = 0; line < 2000; ++line) {
    const int len = static_cast<int>(rng() % 12);
    for (int i = 0; i < len; ++i)
      block += alphabet[rng() % alphabet.size()];
    block += '\n';
  }
  // max_line 8 cuts many lines (the cut end is a subject end the block search does not see);
  // 1024 cuts none.
  for (const std::uint32_t max_line : {8u, 1024u}) {
    for (const auto& p : patterns) {
      INFO(p << " with max_line " << max_line);
      RuleSet rs({rule(p)}, max_line);
      CHECK(rs.blockSearched(0) == (p != "\\Aa" && p != "b\\z" && p != "(*COMMIT)ab"));
      std::vector<std::size_t> got;
      for (const auto& s : scanAll(rs, block))
        got.push_back(s.pos);
      CHECK(got == perLine(p, block, max_line));
    }
  }
}

TEST_CASE("which rules are searched over whole blocks", "[logscan]") {
  RuleSet rs({rule("ERROR (\\d+)"), rule("\\Aa\\s+b")}, 1024);
  CHECK(rs.blockSearched(0));
  CHECK_FALSE(rs.blockSearched(1));
}
