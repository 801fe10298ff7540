// Which rule patterns may be searched over a whole block of lines at once instead of line by
// line, and with what pattern. The block search is what makes the scanner fast (one JIT
// search per rule runs over megabytes, skipping non-matching text at memchr speed), but it
// finds the same lines as a per-line match only if no match can reach past a line.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace reporthub::inputs::logscan {

// The pattern to search blocks of whole lines with (compiled with PCRE2_MULTILINE, newline
// LF) so that it finds exactly the lines on which `pattern` (compiled without option bits)
// matches when each line is its own subject. Or nothing: such a rule is matched line by line.
//
// A line never holds a newline, so an atom that could match one ([^ ], \s, \W, ...) is
// rewritten as (?:(?!\n)ATOM): the same on every line, and unable to cross into the next
// one in a block. Anchors at the subject's edges (\A, \z, \G), verbs, extended mode,
// recursion and whatever else is not modelled here answer nothing: slower, never wrong. A
// wrong answer would lose matches, so this must never return a pattern that can match a
// newline.
std::optional<std::string> blockPattern(std::string_view pattern);

}  // namespace reporthub::inputs::logscan
