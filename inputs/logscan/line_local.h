// Which rule patterns may be searched over a whole block of lines at once instead of line by
// line. The block search is what makes the scanner fast (one JIT search per rule runs over
// megabytes, skipping non-matching lines at memchr speed), but it finds the same lines as a
// per-line match only for patterns whose matches stay inside one line.
#pragma once

#include <string_view>

namespace reporthub::inputs::logscan {

// True if no match of `pattern` (PCRE2 syntax, compiled without option bits, newline LF) can
// contain a newline, depend on where the subject starts or ends other than at a line's
// edges, or stop the search early. Searching a block of whole lines with PCRE2_MULTILINE then
// finds exactly the lines on which the pattern matches when each line is its own subject.
//
// Conservative: anything this does not fully understand (extended mode, dotall, verbs,
// recursion, Unicode properties, \z, \A, ...) answers false, and such a rule is matched line
// by line: slower, never wrong. A false "true" would lose matches, so the answer must never
// be true for a pattern that can match a newline.
bool lineLocal(std::string_view pattern);

}  // namespace reporthub::inputs::logscan
