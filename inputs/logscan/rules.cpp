// Compiled rules and the block scan; see rules.h. Most log lines match no rule, so the scan
// first finds candidate lines with one JIT search per rule over the whole block (PCRE2's
// start-of-match optimisations skip non-matching text far faster than one call per line
// could), then runs the rules in order on those lines alone.
#include "inputs/logscan/rules.h"

#include "config/pattern.h"
#include "inputs/logscan/block_pattern.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace reporthub::inputs::logscan {

using config::pcreMessage;

// `{0}`..`{N}` are captures, `{{` and `}}` literal braces; any other brace is itself.
std::vector<RuleSet::Piece> RuleSet::parseTemplate(const std::string& t) {
  std::vector<Piece> out;
  std::string lit;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      lit += c;
      ++i;
      continue;
    }
    if (c == '{') {
      std::size_t j = i + 1;
      int group = 0;
      while (j < t.size() && j - i <= 4 && t[j] >= '0' && t[j] <= '9')
        group = group * 10 + (t[j++] - '0');
      if (j > i + 1 && j < t.size() && t[j] == '}') {
        if (!lit.empty()) out.push_back({std::move(lit), -1});
        lit.clear();
        out.push_back({"", group});
        i = j;
        continue;
      }
    }
    lit += c;
  }
  if (!lit.empty()) out.push_back({std::move(lit), -1});
  return out;
}

RuleSet::RuleSet(const std::vector<config::LogRule>& rules, std::uint32_t max_line)
    : max_line_(max_line == 0 ? 1 : max_line) {
  // Compiled exactly as the config loader validated them (config/pattern.h): the block
  // search and the line match agree on what '.', '^' and '$' see.
  auto compile = [&](const std::string& pattern, std::uint32_t options, std::size_t index,
                     bool& jit) {
    std::string error;
    pcre2_code* code = config::compileLogPattern(pattern, options, error);
    if (!code && options != 0) {
      // The block pattern is a rewrite of a pattern that compiled: should it not compile, the
      // rule is matched line by line rather than refused.
      spdlog::warn(
          "rule {} ('{}'): its block-search form '{}' does not compile ({}); the rule "
          "is matched line by line",
          index + 1, rules[index].match, pattern, error);
      return code;
    }
    if (!code) {
      throw std::invalid_argument("rule " + std::to_string(index + 1) + " ('" + pattern +
                                  "'): " + error);
    }
    // Without JIT (a platform PCRE2 has none for) matching still works, only slower.
    jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return code;
  };
  rules_.reserve(rules.size());
  try {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      Rule r;
      r.cfg = rules[i];
      rules_.push_back(std::move(r));
      Rule& rule = rules_.back();
      rule.line = compile(rule.cfg.match, 0, i, rule.line_jit);
      if (const auto block = blockPattern(rule.cfg.match)) {
        rule.block = compile(*block, PCRE2_MULTILINE, i, rule.block_jit);
      }
      rule.data = pcre2_match_data_create_from_pattern(rule.line, nullptr);
      rule.text = parseTemplate(rule.cfg.text);
    }
  } catch (...) {
    for (auto& r : rules_) {
      pcre2_code_free(r.line);
      pcre2_code_free(r.block);
      pcre2_match_data_free(r.data);
    }
    throw;
  }
  mctx_ = pcre2_match_context_create(nullptr);
  // The default JIT stack (32 KiB on the machine stack) is too small for some patterns on
  // long lines; this one grows to 1 MiB.
  jit_stack_ = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
  if (jit_stack_) pcre2_jit_stack_assign(mctx_, nullptr, jit_stack_);
  block_data_ = pcre2_match_data_create(1, nullptr);
  error_logged_.assign(rules_.size(), false);
}

RuleSet::~RuleSet() {
  for (auto& r : rules_) {
    pcre2_code_free(r.line);
    pcre2_code_free(r.block);
    pcre2_match_data_free(r.data);
  }
  pcre2_match_data_free(block_data_);
  pcre2_jit_stack_free(jit_stack_);
  pcre2_match_context_free(mctx_);
}

int RuleSet::matchLine(Rule& r, std::string_view line) {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(line.data());
  return r.line_jit ? pcre2_jit_match(r.line, s, line.size(), 0, 0, r.data, mctx_)
                    : pcre2_match(r.line, s, line.size(), 0, 0, r.data, mctx_);
}

void RuleSet::matchError(std::size_t ri, int rc, const char* where) {
  if (error_logged_[ri]) return;
  error_logged_[ri] = true;
  spdlog::error(
      "rule {} ('{}'): match failed with '{}' {}; such lines are taken as not matching it "
      "(said once per rule)",
      ri + 1, rules_[ri].cfg.match, pcreMessage(rc), where);
}

void RuleSet::searchLines(std::size_t ri, std::string_view block, std::size_t from, bool final) {
  Rule& r = rules_[ri];
  const char* d = block.data();
  std::size_t s = from;
  while (s < block.size()) {
    const void* nl = std::memchr(d + s, '\n', block.size() - s);
    const std::size_t end = nl ? static_cast<const char*>(nl) - d : block.size();
    if (!nl && !final) break;
    const std::string_view line(d + s, std::min<std::size_t>(end - s, max_line_));
    const int rc = matchLine(r, line);
    if (rc >= 0) {
      hits_.push_back({s, ri});
    } else if (rc != PCRE2_ERROR_NOMATCH) {
      matchError(ri, rc, "on a line");
    }
    s = end + 1;
  }
}

void RuleSet::searchBlock(std::size_t ri, std::string_view block, bool final) {
  Rule& r = rules_[ri];
  const char* d = block.data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(d);
  const std::size_t len = block.size();
  std::size_t s = 0;  // always the start of a line
  while (s < len) {
    const int rc = r.block_jit ? pcre2_jit_match(r.block, subject, len, s, 0, block_data_, mctx_)
                               : pcre2_match(r.block, subject, len, s, 0, block_data_, mctx_);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      // Limits are per call, and a block is many lines: what is left goes line by line.
      searchLines(ri, block, s, final);
      return;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(block_data_);
    const std::size_t q = std::min<std::size_t>(ov[0], len);
    if (q == len && (len == 0 || d[len - 1] == '\n')) return;  // empty match after the last line
    const void* prev = q > s ? memrchr(d + s, '\n', q - s) : nullptr;
    const std::size_t line_start = prev ? static_cast<const char*>(prev) - d + 1 : s;
    const void* nl = std::memchr(d + q, '\n', len - q);
    const std::size_t line_end = nl ? static_cast<const char*>(nl) - d : len;
    if (ov[1] > line_end && ov[1] != PCRE2_UNSET) {
      // block_pattern.h promised this cannot happen. Stay correct: this rule goes line by line.
      spdlog::warn(
          "rule {} ('{}'): a match crossed a line end; this rule is matched line by "
          "line from now on",
          ri + 1, r.cfg.match);
      pcre2_code_free(r.block);
      r.block = nullptr;
      searchLines(ri, block, line_start, final);
      return;
    }
    if (!nl && !final) return;  // the unterminated tail is not a line yet
    hits_.push_back({line_start, ri});
    s = line_end + 1;
  }
}

void RuleSet::findLongLines(std::string_view block, bool final) {
  // A line is long only if a window of max_line + 1 bytes from its start holds no newline, so
  // one memrchr per window skips every short line at once.
  const char* d = block.data();
  const std::size_t len = block.size();
  std::size_t s = 0;
  while (s < len && len - s > max_line_) {
    const std::size_t window = static_cast<std::size_t>(max_line_) + 1;
    const void* last = memrchr(d + s, '\n', window);
    if (last) {
      s = static_cast<const char*>(last) - d + 1;
      continue;
    }
    const void* nl = std::memchr(d + s + window, '\n', len - s - window);
    if (!nl && !final) return;
    const std::size_t end = nl ? static_cast<const char*>(nl) - d : len;
    long_lines_.push_back({s, end - s});
    s = end + 1;
  }
}

void RuleSet::scan(std::string_view block, bool final, const OnMatch& on_match,
                   const OnLongLine& on_long) {
  hits_.clear();
  long_lines_.clear();
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].block) {
      searchBlock(i, block, final);
    } else {
      searchLines(i, block, 0, final);
    }
  }
  findLongLines(block, final);
  // A cut line ends where the block search sees more text, so '$', '\b' and lookaheads can
  // answer differently there: on long lines (rare) every rule is tried on the cut line.
  for (const auto& [pos, length] : long_lines_) {
    for (std::size_t i = 0; i < rules_.size(); ++i)
      hits_.push_back({pos, i});
  }
  std::sort(hits_.begin(), hits_.end());
  hits_.erase(
      std::unique(hits_.begin(), hits_.end(),
                  [](const Hit& a, const Hit& b) { return a.pos == b.pos && a.rule == b.rule; }),
      hits_.end());

  const char* d = block.data();
  std::size_t li = 0;  // next long line to announce
  for (std::size_t h = 0; h < hits_.size();) {
    const std::size_t pos = hits_[h].pos;
    for (; li < long_lines_.size() && long_lines_[li].first <= pos; ++li)
      on_long(long_lines_[li].first, long_lines_[li].second);
    const void* nl = std::memchr(d + pos, '\n', block.size() - pos);
    const std::size_t length = (nl ? static_cast<const char*>(nl) - d : block.size()) - pos;
    Match m;
    m.line_pos = pos;
    m.truncated = length > max_line_;
    m.line = std::string_view(d + pos, std::min<std::size_t>(length, max_line_));
    bool done = false;
    for (; h < hits_.size() && hits_[h].pos == pos; ++h) {
      if (done) continue;
      const std::size_t ri = hits_[h].rule;
      Rule& r = rules_[ri];
      const int rc = matchLine(r, m.line);
      if (rc < 0) {
        if (rc != PCRE2_ERROR_NOMATCH) matchError(ri, rc, "on a line");
        continue;
      }
      m.rule = ri;
      on_match(m);
      done = !r.cfg.cont;
    }
  }
  for (; li < long_lines_.size(); ++li)
    on_long(long_lines_[li].first, long_lines_[li].second);
}

std::string RuleSet::text(const Match& m) const {
  const Rule& r = rules_[m.rule];
  std::string out;
  if (r.cfg.text.empty()) {
    std::string_view line = m.line;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.assign(line.substr(0, kMaxText));
    return out;
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(r.data);
  const std::uint32_t pairs = pcre2_get_ovector_count(r.data);
  for (const auto& piece : r.text) {
    if (piece.group < 0) {
      out += piece.literal;
    } else if (static_cast<std::uint32_t>(piece.group) < pairs) {
      const PCRE2_SIZE a = ov[2 * piece.group], b = ov[2 * piece.group + 1];
      // An unset group, and \K in a lookahead (start after end), expand to nothing.
      if (a != PCRE2_UNSET && b != PCRE2_UNSET && a <= b && b <= m.line.size()) {
        out.append(m.line.substr(a, b - a));
      }
    }
    if (out.size() >= kMaxText) {
      out.resize(kMaxText);
      break;
    }
  }
  return out;
}

}  // namespace reporthub::inputs::logscan
