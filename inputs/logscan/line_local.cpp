// The pattern check behind the block search; see line_local.h. A small reader of PCRE2's
// pattern syntax that only has to tell whether any atom can match a newline, and that gives up
// (answers false) on every construct it does not model.
#include "inputs/logscan/line_local.h"

#include <cctype>
#include <cstddef>
#include <string>

namespace reporthub::inputs::logscan {

namespace {

constexpr long kNewline = '\n';

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isOctal(char c) {
  return c >= '0' && c <= '7';
}

class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}

  bool lineLocal() {
    while (i_ < p_.size()) {
      const char c = p_[i_];
      bool ok = true;
      if (c == '\\') {
        ok = escapeOutsideClass();
      } else if (c == '[') {
        ok = characterClass();
      } else if (c == '(') {
        ok = groupOpening();
      } else if (c == '\n') {
        ok = false;  // a literal newline in the pattern
      } else {
        ++i_;  // literal, '.', '^', '$', '|', ')', quantifiers: none of them reach past a line
      }
      if (!ok) return false;
    }
    return true;
  }

 private:
  char at(std::size_t k) const { return k < p_.size() ? p_[k] : '\0'; }

  // \x.. or \x{..} starting at the 'x' at `k`; the value, or -1 if malformed.
  long hexEscape(std::size_t& k) {
    ++k;
    long v = 0;
    if (at(k) == '{') {
      ++k;
      int digits = 0;
      while (hexDigit(at(k)) >= 0 && digits < 8) {
        v = v * 16 + hexDigit(at(k++));
        ++digits;
      }
      if (at(k) != '}' || digits == 0) return -1;
      ++k;
      return v;
    }
    for (int d = 0; d < 2 && hexDigit(at(k)) >= 0; ++d)
      v = v * 16 + hexDigit(at(k++));
    return v;
  }

  // Up to `max` octal digits starting at `k`.
  long octalDigits(std::size_t& k, int max) {
    long v = 0;
    for (int d = 0; d < max && isOctal(at(k)); ++d)
      v = v * 8 + (at(k++) - '0');
    return v;
  }

  // Skips to just past `closer` from `k`; false if it never comes.
  bool skipPast(std::size_t& k, char closer) {
    const auto pos = p_.find(closer, k);
    if (pos == std::string_view::npos) return false;
    k = pos + 1;
    return true;
  }

  bool escapeOutsideClass() {
    std::size_t k = i_ + 1;
    const char e = at(k);
    switch (e) {
      // Can match a newline, or anchor at the subject's edges rather than a line's.
      case 'n':
      case 's':
      case 'v':
      case 'R':
      case 'D':
      case 'W':
      case 'H':
      case 'X':
      case 'C':
      case 'A':
      case 'z':
      case 'Z':
      case 'G':
      // Not modelled: control characters, octal braces, Unicode properties, \u.
      case 'c':
      case 'o':
      case 'p':
      case 'P':
      case 'u':
      case 'U':
      case 'L':
      case 'l':
        return false;
      case 'N':  // \N is "not a newline"; \N{U+..} names a character
        if (at(k + 1) == '{') return false;
        i_ = k + 1;
        return true;
      case 'x': {
        const long v = hexEscape(k);
        if (v < 0 || v == kNewline) return false;
        i_ = k;
        return true;
      }
      case '0': {
        ++k;
        const long v = octalDigits(k, 2);
        if (v == kNewline) return false;
        i_ = k;
        return true;
      }
      case 'Q': {  // \Q...\E: literal text, which must not hold a newline
        const auto end = p_.find("\\E", k + 1);
        const auto quoted = p_.substr(
            k + 1, end == std::string_view::npos ? std::string_view::npos : end - (k + 1));
        if (quoted.find('\n') != std::string_view::npos) return false;
        i_ = end == std::string_view::npos ? p_.size() : end + 2;
        return true;
      }
      case 'E':
        i_ = k + 1;
        return true;
      case 'g':  // \g{..} and \gN are back references; \g<..> and \g'..' are subroutine calls
        ++k;
        if (at(k) == '{') {
          if (!skipPast(k, '}')) return false;
        } else {
          if (at(k) == '+' || at(k) == '-') ++k;
          if (!std::isdigit(static_cast<unsigned char>(at(k)))) return false;
          while (std::isdigit(static_cast<unsigned char>(at(k))))
            ++k;
        }
        i_ = k;
        return true;
      case 'k': {  // named back reference
        ++k;
        const char open = at(k);
        const char close = open == '<' ? '>' : open == '\'' ? '\'' : open == '{' ? '}' : '\0';
        if (close == '\0') return false;
        ++k;
        if (!skipPast(k, close)) return false;
        i_ = k;
        return true;
      }
      // Classes without a newline, and assertions and characters that are not one.
      case 'd':
      case 'w':
      case 'S':
      case 'h':
      case 'V':
      case 'b':
      case 'B':
      case 'K':
      case 'e':
      case 'f':
      case 'r':
      case 't':
      case 'a':
        i_ = k + 1;
        return true;
      default:
        break;
    }
    if (e >= '1' && e <= '9') {
      // \1..\9 is a back reference to a group checked on its own; \10 and up may be octal.
      if (std::isdigit(static_cast<unsigned char>(at(k + 1)))) return false;
      i_ = k + 1;
      return true;
    }
    if (e == '\0' || e == '\n' || std::isalnum(static_cast<unsigned char>(e))) return false;
    i_ = k + 1;  // an escaped punctuation character is that character
    return true;
  }

  // One member of a character class at `k`. Sets `value` for a single character (-1 for a
  // set of characters) and `set_has_newline` for a set. False if not understood.
  bool classMember(std::size_t& k, long& value, bool& set_has_newline) {
    value = -1;
    set_has_newline = false;
    const char c = at(k);
    if (c == '[') {
      const char kind = at(k + 1);
      if (kind == '.' || kind == '=') return false;  // collating elements: not supported
      if (kind == ':') {
        const auto end = p_.find(":]", k + 2);
        if (end == std::string_view::npos) return false;
        std::string name(p_.substr(k + 2, end - (k + 2)));
        bool negated = false;
        if (!name.empty() && name[0] == '^') {
          negated = true;
          name.erase(0, 1);
        }
        static const char* const kWithout[] = {"alnum", "alpha", "blank", "digit", "graph", "lower",
                                               "print", "punct", "upper", "word",  "xdigit"};
        static const char* const kWith[] = {"space", "cntrl", "ascii"};
        bool known = false, with = false;
        for (const char* n : kWithout)
          known = known || name == n;
        for (const char* n : kWith) {
          if (name == n) known = with = true;
        }
        if (!known) return false;
        set_has_newline = with != negated;
        k = end + 2;
        return true;
      }
      value = '[';
      ++k;
      return true;
    }
    if (c != '\\') {
      value = static_cast<unsigned char>(c);
      ++k;
      return true;
    }
    const char e = at(k + 1);
    k += 2;
    switch (e) {
      case 'n':
        value = '\n';
        return true;
      case 'e':
        value = 27;
        return true;
      case 'f':
        value = 12;
        return true;
      case 'r':
        value = 13;
        return true;
      case 't':
        value = 9;
        return true;
      case 'a':
        value = 7;
        return true;
      case 'b':
        value = 8;
        return true;
      case 's':
      case 'v':
      case 'D':
      case 'W':
      case 'H':
        set_has_newline = true;
        return true;
      case 'S':
      case 'd':
      case 'w':
      case 'h':
      case 'V':
        return true;
      case 'x': {
        k -= 1;
        value = hexEscape(k);
        return value >= 0;
      }
      case 'c': {
        const char x = at(k);
        if (x == '\0') return false;
        value = std::toupper(static_cast<unsigned char>(x)) ^ 0x40;
        ++k;
        return true;
      }
      default:
        break;
    }
    if (isOctal(e)) {  // inside a class, \1 is the character 001, never a back reference
      k -= 1;
      value = octalDigits(k, 3);
      return true;
    }
    if (e == '\0' || std::isalnum(static_cast<unsigned char>(e))) return false;
    value = static_cast<unsigned char>(e);
    return true;
  }

  bool characterClass() {
    std::size_t k = i_ + 1;
    bool negated = false;
    if (at(k) == '^') {
      negated = true;
      ++k;
    }
    bool has_newline = false;
    bool first = true;
    while (k < p_.size() && (p_[k] != ']' || first)) {
      first = false;
      if (p_[k] == '\\' && (at(k + 1) == 'Q' || at(k + 1) == 'E')) return false;
      long lo = -1;
      bool set_nl = false;
      if (!classMember(k, lo, set_nl)) return false;
      if (lo < 0) {
        has_newline = has_newline || set_nl;
        if (at(k) == '-' && at(k + 1) != ']') return false;  // a range from a set: not modelled
        continue;
      }
      long hi = lo;
      if (at(k) == '-' && at(k + 1) != ']' && k + 1 < p_.size()) {
        std::size_t m = k + 1;
        long to = -1;
        bool to_set = false;
        if (!classMember(m, to, to_set) || to < 0) return false;
        hi = to;
        k = m;
      }
      if (lo <= kNewline && kNewline <= hi) has_newline = true;
    }
    if (k >= p_.size()) return false;  // unterminated: the compiler refuses it anyway
    i_ = k + 1;
    return negated ? has_newline : !has_newline;
  }

  bool groupOpening() {
    std::size_t k = i_ + 1;
    if (at(k) == '*') return false;  // (*VERB), (*UTF), (*CRLF)...: change the search itself
    if (at(k) != '?') {
      i_ = k;
      return true;
    }
    ++k;
    const char c = at(k);
    switch (c) {
      case ':':
      case '|':
      case '>':
      case '=':
      case '!':
        i_ = k + 1;
        return true;
      case '<':
        if (at(k + 1) == '=' || at(k + 1) == '!') {
          i_ = k + 2;
          return true;
        }
        ++k;
        if (!skipPast(k, '>')) return false;  // (?<name>
        i_ = k;
        return true;
      case '\'':
        ++k;
        if (!skipPast(k, '\'')) return false;  // (?'name'
        i_ = k;
        return true;
      case 'P':
        if (at(k + 1) != '<') return false;  // (?P=name) and (?P>name): not modelled
        k += 2;
        if (!skipPast(k, '>')) return false;
        i_ = k;
        return true;
      case '#':
        if (!skipPast(k, ')')) return false;
        i_ = k;
        return true;
      default:
        break;
    }
    // Option settings: only those that cannot make an atom match a newline or unset
    // multi-line mode. s (dot matches newline), x (spaces and # comments), - and ^ are out.
    while (at(k) == 'i' || at(k) == 'm' || at(k) == 'n' || at(k) == 'U' || at(k) == 'J')
      ++k;
    if (k == i_ + 2 || (at(k) != ')' && at(k) != ':')) return false;
    i_ = k + 1;
    return true;
  }

  std::string_view p_;
  std::size_t i_ = 0;
};

}  // namespace

bool lineLocal(std::string_view pattern) {
  return Reader(pattern).lineLocal();
}

}  // namespace reporthub::inputs::logscan
