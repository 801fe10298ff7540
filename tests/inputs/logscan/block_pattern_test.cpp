// Tests of the pattern rewrite that decides which rules are searched over whole blocks and
// with what pattern (inputs/logscan/block_pattern.h). rules_test.cpp checks the result
// against per-line matching on generated text; these pin the rewrite itself.
#include "inputs/logscan/block_pattern.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>

using reporthub::inputs::logscan::blockPattern;

TEST_CASE("patterns whose atoms cannot match a newline are searched as they are", "[logscan]") {
  const char* patterns[] = {
      R"(ERROR (\d+))",
      R"(disk (\S+) failed)",
      R"(timeout after (\d+) ?ms)",
      R"(^\w+: .*$)",
      R"(CRITICAL: (.*))",
      R"([A-Z]{3,})",
      R"(foo|bar)",
      R"((?i)error)",
      R"((?:a|b)+c)",
      R"(\bword\b)",
      R"(x\.y)",
      R"([^\n]+)",
      R"([^\s]+)",
      R"((?<name>\d+))",
      R"((?<=foo)bar)",
      R"((?!x)y)",
      R"(\Qa.b\E)",
      R"([a-z\]]+)",
      R"([]a]+)",
      R"(\x41)",
      R"((?#note)x)",
      R"([[:alpha:]]+)",
      R"([[:^space:]]+)",
      R"(\N+)",
      R"((?>a*)b)",
      R"((a)\1)",
      R"((?P<n>a)\k<n>)",
      R"([^x\n]*y)",
      R"([\x20-\x7e]+)",
      R"(\t\r\e)",
      R"((?m)^a$)",
      R"((?i:abc))",
      R"(\d+\K ms)",
      R"((?-i)a)",
  };
  for (const char* p : patterns) {
    INFO(p);
    const auto block = blockPattern(p);
    REQUIRE(block);
    CHECK(*block == p);
  }
}

TEST_CASE("atoms that could match a newline are guarded in the block pattern", "[logscan]") {
  const std::pair<const char*, const char*> cases[] = {
      {R"(disk ([^ ]+) failed)", R"(disk ((?:(?!\n)[^ ])+) failed)"},
      {R"(a\s+b)", R"(a(?:(?!\n)\s)+b)"},
      {R"x("([^"]*)")x", R"x("((?:(?!\n)[^"])*)")x"},
      {R"((?s)a.c)", R"((?s)a(?:(?!\n).)c)"},
      {R"(a.(?s:b.))", R"(a.(?s:b(?:(?!\n).)))"},
      {R"(\W\D\H\v)", R"((?:(?!\n)\W)(?:(?!\n)\D)(?:(?!\n)\H)(?:(?!\n)\v))"},
      {R"(\x0a|\x{a}|\012|\cJ|\n)",
       R"((?:(?!\n)\x0a)|(?:(?!\n)\x{a})|(?:(?!\n)\012)|(?:(?!\n)\cJ)|(?:(?!\n)\n))"},
      {R"([[:space:]][\s,][\x00-\x1f])",
       R"((?:(?!\n)[[:space:]])(?:(?!\n)[\s,])(?:(?!\n)[\x00-\x1f]))"},
      {R"(\p{L}\pN)", R"((?:(?!\n)\p{L})(?:(?!\n)\pN))"},
      {R"((?<=\s)x)", R"((?<=(?:(?!\n)\s))x)"},
      {"a\nb", "a(?:(?!\\n)\n)b"},
  };
  for (const auto& [in, out] : cases) {
    INFO(in);
    const auto block = blockPattern(in);
    REQUIRE(block);
    CHECK(*block == out);
  }
}

TEST_CASE("patterns tied to the subject's edges or not modelled go line by line", "[logscan]") {
  const char* patterns[] = {
      R"(\Aabc)",    R"(abc\z)", R"(abc\Z)",   R"((*CRLF)a)", R"((?-m)a$)", R"((?^)a)",
      R"((?x) a b)", R"(a\Rb)",  R"((a)(?1))", R"((?R))",     R"(\Ga)",     R"(a\12)",
      R"(\X)",       R"(\C)",    R"([a-\d])",  R"((?P>n))",   R"(\g<1>)",   R"((*COMMIT)a)",
      R"(\Qa
b\E)",
  };
  for (const char* p : patterns) {
    INFO(p);
    CHECK_FALSE(blockPattern(p));
  }
}
