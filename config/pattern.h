// How a logscan pattern is compiled, in one place: the config loader compiles each pattern
// with it to refuse a bad one at load, and logscan compiles with it to match, so the two
// can never disagree about what a pattern means.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace reporthub::config {

// Byte mode (log files are not guaranteed UTF-8) and LF alone ends a line, whatever the
// library was built with; `options` are added (logscan's block search adds MULTILINE).
// Returns nullptr on failure, with `error` saying why and where ("missing closing
// parenthesis at offset 9").
pcre2_code* compileLogPattern(std::string_view pattern, std::uint32_t options, std::string& error);

// PCRE2's text for an error code.
std::string pcreMessage(int code);

}  // namespace reporthub::config
