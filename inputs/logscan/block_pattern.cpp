// The pattern rewrite behind the block search; see block_pattern.h. A small reader of PCRE2's
// pattern syntax that copies it token by token, guards each atom that could match a newline,
// and gives up on every construct it does not model.
#include "inputs/logscan/block_pattern.h"

#include <cctype>
#include <cstddef>

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

bool isDigit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// What to do with one token of the pattern.
enum class Token {
  copy,   // cannot match a newline
  guard,  // one character that may be a newline: wrapped in (?:(?!\n)...)
  fail,   // not modelled, or depends on the subject's edges: match line by line
};

class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}

  std::optional<std::string> run() {
    while (i_ < p_.size()) {
      std::size_t end = i_ + 1;
      Token t = Token::copy;
      switch (p_[i_]) {
        case '\\':
          t = escape(end);
          break;
        case '[':
          t = characterClass(end);
          break;
        case '(':
          t = groupOpening(end);
          break;
        case '.':
          t = dotall_ ? Token::guard : Token::copy;
          break;
        case '\n':
          t = Token::guard;
          break;  // a literal newline in the pattern
        default:
          break;  // literal, '^', '$' (multi-line), '|', ')', quantifiers
      }
      if (t == Token::fail) return std::nullopt;
      const auto text = p_.substr(i_, end - i_);
      if (t == Token::guard) {
        out_ += "(?:(?!\\n)";
        out_ += text;
        out_ += ')';
      } else {
        out_ += text;
      }
      i_ = end;
    }
    return out_;
  }

 private:
  char at(std::size_t k) const { return k < p_.size() ? p_[k] : '\0'; }

  // \x.. or \x{..} with `k` at the 'x'; the value, or -1 if malformed. Leaves k after it.
  long hexEscape(std::size_t& k) const {
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

  long octalDigits(std::size_t& k, int max) const {
    long v = 0;
    for (int d = 0; d < max && isOctal(at(k)); ++d)
      v = v * 8 + (at(k++) - '0');
    return v;
  }

  // Moves `k` just past the next `closer`; false if there is none.
  bool skipPast(std::size_t& k, char closer) const {
    const auto pos = p_.find(closer, k);
    if (pos == std::string_view::npos) return false;
    k = pos + 1;
    return true;
  }

  Token escape(std::size_t& end) {
    std::size_t k = i_ + 1;
    const char e = at(k);
    end = k + 1;
    switch (e) {
      // One character that may be a newline.
      case 'n':
      case 's':
      case 'v':
      case 'D':
      case 'W':
      case 'H':
        return Token::guard;
      case 'c':  // \cJ is a newline
        if (at(k + 1) == '\0') return Token::fail;
        end = k + 2;
        return Token::guard;
      case 'o':  // \o{12}
        if (at(k + 1) != '{') return Token::fail;
        ++k;
        if (!skipPast(k, '}')) return Token::fail;
        end = k;
        return Token::guard;
      case 'p':
      case 'P':  // \pL, \p{Lu}: one character of a property
        if (at(k + 1) == '{') {
          ++k;
          if (!skipPast(k, '}')) return Token::fail;
          end = k;
        } else {
          if (at(k + 1) == '\0') return Token::fail;
          end = k + 2;
        }
        return Token::guard;
      // Several characters that may include a newline, the subject's edges, and \u..: no.
      case 'R':
      case 'X':
      case 'C':
      case 'A':
      case 'z':
      case 'Z':
      case 'G':
      case 'u':
      case 'U':
      case 'L':
      case 'l':
        return Token::fail;
      case 'N':  // \N is "not a newline"; \N{U+..} names a character (UTF only)
        return at(k + 1) == '{' ? Token::fail : Token::copy;
      case 'x': {
        const long v = hexEscape(k);
        if (v < 0) return Token::fail;
        end = k;
        return v == kNewline ? Token::guard : Token::copy;
      }
      case '0': {
        ++k;
        const long v = octalDigits(k, 2);
        end = k;
        return v == kNewline ? Token::guard : Token::copy;
      }
      case 'Q': {  // \Q...\E: literal text; one holding a newline never matches a line
        const auto stop = p_.find("\\E", k + 1);
        const auto quoted = p_.substr(
            k + 1, stop == std::string_view::npos ? std::string_view::npos : stop - (k + 1));
        if (quoted.find('\n') != std::string_view::npos) return Token::fail;
        end = stop == std::string_view::npos ? p_.size() : stop + 2;
        return Token::copy;
      }
      case 'E':
        return Token::copy;
      case 'g':  // \g{..} and \gN are back references; \g<..> and \g'..' are calls: no
        ++k;
        if (at(k) == '{') {
          if (!skipPast(k, '}')) return Token::fail;
        } else {
          if (at(k) == '+' || at(k) == '-') ++k;
          if (!isDigit(at(k))) return Token::fail;
          while (isDigit(at(k)))
            ++k;
        }
        end = k;
        return Token::copy;
      case 'k': {  // named back reference
        ++k;
        const char open = at(k);
        const char close = open == '<' ? '>' : open == '\'' ? '\'' : open == '{' ? '}' : '\0';
        if (close == '\0') return Token::fail;
        ++k;
        if (!skipPast(k, close)) return Token::fail;
        end = k;
        return Token::copy;
      }
      // Classes without a newline, assertions, and characters that are not one.
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
        return Token::copy;
      default:
        break;
    }
    if (e >= '1' && e <= '9') {
      // \1..\9 refers back to a group, whose atoms are guarded themselves; \10 and up may be
      // octal (\12 is a newline).
      return isDigit(at(k + 1)) ? Token::fail : Token::copy;
    }
    if (e == '\0' || e == '\n' || isAlnum(e)) return Token::fail;
    return Token::copy;  // an escaped punctuation character is that character
  }

  // One member of a character class at `k`. Sets `value` for a single character (-1 for a
  // set) and `set_has_newline` for a set. False if not understood.
  bool classMember(std::size_t& k, long& value, bool& set_has_newline) const {
    value = -1;
    set_has_newline = false;
    const char c = at(k);
    if (c == '[') {
      const char kind = at(k + 1);
      if (kind == '.' || kind == '=') return false;  // collating elements: not supported
      if (kind == ':') {
        const auto stop = p_.find(":]", k + 2);
        if (stop == std::string_view::npos) return false;
        std::string_view name = p_.substr(k + 2, stop - (k + 2));
        bool negated = false;
        if (!name.empty() && name[0] == '^') {
          negated = true;
          name.remove_prefix(1);
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
        k = stop + 2;
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
    if (e == '\0' || isAlnum(e)) return false;  // \p, \Q, \o, ...: not modelled in a class
    value = static_cast<unsigned char>(e);
    return true;
  }

  Token characterClass(std::size_t& end) const {
    std::size_t k = i_ + 1;
    bool negated = false;
    if (at(k) == '^') {
      negated = true;
      ++k;
    }
    bool has_newline = false;
    bool first = true;  // a ']' right at the start is a member
    while (k < p_.size() && (p_[k] != ']' || first)) {
      first = false;
      long lo = -1;
      bool set_nl = false;
      if (!classMember(k, lo, set_nl)) return Token::fail;
      if (lo < 0) {
        has_newline = has_newline || set_nl;
        if (at(k) == '-' && at(k + 1) != ']') return Token::fail;  // a range from a set
        continue;
      }
      long hi = lo;
      if (at(k) == '-' && at(k + 1) != ']' && k + 1 < p_.size()) {
        std::size_t m = k + 1;
        long to = -1;
        bool to_set = false;
        if (!classMember(m, to, to_set) || to < 0) return Token::fail;
        hi = to;
        k = m;
      }
      if (lo <= kNewline && kNewline <= hi) has_newline = true;
    }
    if (k >= p_.size()) return Token::fail;  // unterminated: the compiler refuses it anyway
    end = k + 1;
    return negated != has_newline ? Token::guard : Token::copy;
  }

  Token groupOpening(std::size_t& end) {
    std::size_t k = i_ + 1;
    if (at(k) == '*') return Token::fail;  // (*VERB), (*UTF), (*CRLF)...: change the search
    if (at(k) != '?') return Token::copy;
    ++k;
    switch (at(k)) {
      case ':':
      case '|':
      case '>':
      case '=':
      case '!':
        end = k + 1;
        return Token::copy;
      case '<':
        if (at(k + 1) == '=' || at(k + 1) == '!') {
          end = k + 2;
          return Token::copy;
        }
        ++k;
        if (!skipPast(k, '>')) return Token::fail;  // (?<name>
        end = k;
        return Token::copy;
      case '\'':
        ++k;
        if (!skipPast(k, '\'')) return Token::fail;  // (?'name'
        end = k;
        return Token::copy;
      case 'P':
        if (at(k + 1) != '<') return Token::fail;  // (?P=name), (?P>name): not modelled
        k += 2;
        if (!skipPast(k, '>')) return Token::fail;
        end = k;
        return Token::copy;
      case '#':
        if (!skipPast(k, ')')) return Token::fail;
        end = k;
        return Token::copy;
      default:
        break;
    }
    // Option settings. Extended mode (x) changes what the pattern's characters mean, and
    // unsetting multi-line mode (-m, ^) makes '$' an edge of the subject: not modelled. After
    // s (dot matches newline) every later '.' is guarded.
    const std::size_t start = k;
    bool unsetting = false;
    while (true) {
      const char c = at(k);
      if (c == '-' && !unsetting) {
        unsetting = true;
      } else if (c == 'i' || c == 'n' || c == 'U' || c == 'J') {
      } else if (c == 's') {
        dotall_ = dotall_ || !unsetting;
      } else if (c == 'm') {
        if (unsetting) return Token::fail;
      } else {
        break;
      }
      ++k;
    }
    if (k == start || (at(k) != ')' && at(k) != ':')) return Token::fail;
    end = k + 1;
    return Token::copy;
  }

  std::string_view p_;
  std::size_t i_ = 0;
  std::string out_;
  bool dotall_ = false;
};

}  // namespace

std::optional<std::string> blockPattern(std::string_view pattern) {
  return Reader(pattern).run();
}

}  // namespace reporthub::inputs::logscan
