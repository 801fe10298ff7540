// Tests of the pattern check that decides which rules may be searched over whole blocks
// (inputs/logscan/line_local.h): every construct that can match a newline or anchor at the
// subject's edges must answer false.
#include "inputs/logscan/line_local.h"

#include <catch2/catch.hpp>

#include <string>

using reporthub::inputs::logscan::lineLocal;

TEST_CASE("patterns whose matches stay inside a line are block-searchable", "[logscan]") {
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
  };
  for (const char* p : patterns) {
    INFO(p);
    CHECK(lineLocal(p));
  }
}

TEST_CASE("patterns that can reach past a line are matched line by line", "[logscan]") {
  const char* patterns[] = {
      R"(a\sb)",   R"([^x]*b)", R"(\n)",          R"((?s).*)",  R"((?x) a b)",    R"(\Aabc)",
      R"(abc\z)",  R"(abc\Z)",  R"((*CRLF)a)",    R"((?-m)a$)", R"(a\Rb)",        R"(\x0a)",
      R"(\x{a})",  R"(\012)",   R"([\x00-\x1f])", R"([\s])",    R"([[:space:]])", R"([[:^alpha:]])",
      R"(\D)",     R"(\W+)",    R"(\H)",          R"(\v)",      R"((a)(?1))",     R"((?R))",
      R"(\p{L})",  R"(\cJ)",    R"([^a])",        R"(\Ga)",     R"((?^)a)",       R"(a\12)",
      R"([\n])",   R"([\012])", R"([\cJ])",       R"(\Qa
b\E)",       "a\nb",           R"((*COMMIT)a)",
      R"([a-\d])", R"(\X)",     R"(\C)",
  };
  for (const char* p : patterns) {
    INFO(p);
    CHECK_FALSE(lineLocal(p));
  }
}
