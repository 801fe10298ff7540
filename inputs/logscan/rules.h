// The rules of one followed file, compiled: PCRE2 patterns with JIT, text templates, and the
// scan of a block of lines that finds which rules match which lines. This is the scanner's
// hot path; it knows nothing of files, offsets or the hub.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "config/config.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub::inputs::logscan {

// Report texts are cut here so that a report always fits the hub's 64 KiB body limit.
constexpr std::size_t kMaxText = 60 * 1024;

// One rule that matched one line.
struct Match {
  std::size_t line_pos = 0;  // offset of the line's first byte in the scanned block
  std::string_view line;     // the line as matched: without its '\n', cut at max_line
  std::size_t rule = 0;      // index in the file's rules
  bool truncated = false;    // the line was longer than max_line
};

class RuleSet {
 public:
  // Compiles every rule the way the config loader validated it (byte mode, no option bits),
  // with LF as the newline, then JIT. Throws std::invalid_argument naming the rule and the
  // pattern error and its offset.
  RuleSet(const std::vector<config::LogRule>& rules, std::uint32_t max_line);
  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  using OnMatch = std::function<void(const Match&)>;
  using OnLongLine = std::function<void(std::size_t line_pos, std::size_t length)>;

  // Scans the lines of `block`: every line ends with '\n', except the last one if `final`
  // (the unterminated tail of a file that is finished). Calls `on_long` for each line longer
  // than max_line and `on_match` for each rule that matches a line: lines in order, and in
  // a line the rules in config order until one without `continue` has matched.
  void scan(std::string_view block, bool final, const OnMatch& on_match, const OnLongLine& on_long);

  // The report text of the match being handed to on_match (call it from there): the rule's
  // template with its captures, or the whole line without a trailing '\r'. At most kMaxText.
  std::string text(const Match& m) const;

  std::size_t size() const { return rules_.size(); }
  const config::LogRule& rule(std::size_t i) const { return rules_[i].cfg; }
  // Whether rule i is searched over whole blocks (see block_pattern.h) or line by line.
  bool blockSearched(std::size_t i) const { return rules_[i].block != nullptr; }
  std::uint32_t maxLine() const { return max_line_; }

 private:
  struct Piece {  // of a text template: literal text, or capture group `group`
    std::string literal;
    int group = -1;
  };
  struct Rule {
    config::LogRule cfg;
    pcre2_code* line = nullptr;   // matches one line (the semantics the config promises)
    pcre2_code* block = nullptr;  // same pattern, multi-line, over a block; null: line by line
    bool line_jit = false, block_jit = false;
    pcre2_match_data* data = nullptr;  // captures of the last line match
    std::vector<Piece> text;
  };
  struct Hit {
    std::size_t pos;
    std::size_t rule;
    bool operator<(const Hit& o) const { return pos != o.pos ? pos < o.pos : rule < o.rule; }
  };

  static std::vector<Piece> parseTemplate(const std::string& t);
  int matchLine(Rule& r, std::string_view line);
  void searchBlock(std::size_t ri, std::string_view block, bool final);
  void searchLines(std::size_t ri, std::string_view block, std::size_t from, bool final);
  void findLongLines(std::string_view block, bool final);
  void matchError(std::size_t ri, int rc, const char* where);

  std::vector<Rule> rules_;
  std::uint32_t max_line_;
  pcre2_match_context* mctx_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
  pcre2_match_data* block_data_ = nullptr;  // only the start of a block match is read
  std::vector<Hit> hits_;
  std::vector<std::pair<std::size_t, std::size_t>> long_lines_;  // (pos, length)
  std::vector<bool> error_logged_;
};

}  // namespace reporthub::inputs::logscan
