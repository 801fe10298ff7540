// Reads a mail message back with an independent parser, Python's `email` package (policy
// "default": RFC 2047 words and transfer encodings decoded, defects listed), so tests check
// what a mail program would see rather than our own formatter's idea of it.
#pragma once

#include "tests/support/temp_dir.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>

namespace reporthub::test {

inline constexpr const char* kParseMailPy = R"PY(
import email, email.policy, json, sys
raw = open(sys.argv[1], 'rb').read()
m = email.message_from_bytes(raw, policy=email.policy.default)
defects = [type(d).__name__ for d in m.defects]
headers = {}
for name, value in m.items():
    defects += [type(d).__name__ for d in getattr(value, 'defects', ())]
    headers.setdefault(name.lower(), []).append(str(value))
lines = raw.split(b'\r\n')
print(json.dumps({
    'headers': headers,
    'defects': defects,
    'content_type': m.get_content_type(),
    'charset': m.get_content_charset(),
    'body': m.get_content().replace('\r\n', '\n'),
    'only_crlf': b'\n' not in raw.replace(b'\r\n', b'') and b'\r' not in raw.replace(b'\r\n', b''),
    'longest_line': max(len(l) for l in lines),
    'ascii': all(b < 128 for b in raw),
}))
)PY";

// The parsed message as JSON: headers (lower-case name -> decoded values), defects,
// content_type, charset, body (decoded text, '\n' line ends), only_crlf, longest_line, ascii. Null
// if the parser could not run.
inline nlohmann::json parseMail(const std::string& message) {
  TempDir dir;
  const auto file = dir.write("message.eml", message);
  const auto script = dir.write("parse.py", kParseMailPy);
  const std::string cmd = "/usr/bin/python3 " + script.string() + " " + file.string();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return nullptr;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;)
    out.append(buf, n);
  if (pclose(p) != 0) return nullptr;
  return nlohmann::json::parse(out, nullptr, false);
}

// The first value of a parsed header, "" if absent.
inline std::string header(const nlohmann::json& parsed, const std::string& lower_name) {
  const auto& h = parsed["headers"];
  if (!h.contains(lower_name) || h[lower_name].empty()) return {};
  return h[lower_name][0].get<std::string>();
}

}  // namespace reporthub::test
