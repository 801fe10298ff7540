// Mapping rules; see mapper.h.
#include "inputs/ds_receive/mapper.h"

#include "common/syslog.h"
#include "config/pattern.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace reporthub::inputs::ds_receive {

Mapper::Mapper(const config::DsReceiveInput& cfg) : default_category_(cfg.default_category) {
  rules_.reserve(cfg.rules.size());
  auto freeAll = [&] {
    for (auto& r : rules_) {
      pcre2_match_data_free(r.data);
      pcre2_code_free(r.code);
    }
  };
  for (std::size_t i = 0; i < cfg.rules.size(); ++i) {
    Rule r;
    r.cfg = cfg.rules[i];
    if (!r.cfg.match.empty()) {
      std::string error;
      r.code = config::compileLogPattern(r.cfg.match, 0, error);
      if (!r.code) {
        freeAll();
        throw std::invalid_argument("rule " + std::to_string(i + 1) + " ('" + r.cfg.match +
                                    "'): " + error);
      }
      // Without JIT (a platform PCRE2 has none for) matching still works, only slower.
      r.jit = pcre2_jit_compile(r.code, PCRE2_JIT_COMPLETE) == 0;
      r.data = pcre2_match_data_create(1, nullptr);
    }
    rules_.push_back(std::move(r));
  }
  mctx_ = pcre2_match_context_create(nullptr);
  // The default JIT stack (32 KiB on the machine stack) is too small for some patterns on
  // long messages; this one grows to 1 MiB.
  jit_stack_ = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
  if (jit_stack_) pcre2_jit_stack_assign(mctx_, nullptr, jit_stack_);
}

Mapper::~Mapper() {
  for (auto& r : rules_) {
    pcre2_match_data_free(r.data);
    pcre2_code_free(r.code);
  }
  pcre2_jit_stack_free(jit_stack_);
  pcre2_match_context_free(mctx_);
}

bool Mapper::matches(Rule& r, std::string_view msg) {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(msg.data());
  const int rc = r.jit ? pcre2_jit_match(r.code, s, msg.size(), 0, 0, r.data, mctx_)
                       : pcre2_match(r.code, s, msg.size(), 0, 0, r.data, mctx_);
  if (rc >= 0) return true;
  if (rc != PCRE2_ERROR_NOMATCH && !r.error_logged) {
    r.error_logged = true;
    spdlog::error(
        "rule with match '{}': matching failed with '{}'; such messages are taken as not "
        "matching it (said once per rule)",
        r.cfg.match, config::pcreMessage(rc));
  }
  return false;
}

Mapper::Result Mapper::map(const SyslogMessage& m) {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    Rule& r = rules_[i];
    const config::SyslogRule& c = r.cfg;
    if (c.facility && *c.facility != m.facility) continue;
    // Lower numbers are more severe: `err` also takes crit, alert and emerg.
    if (c.syslog_severity && m.severity > *c.syslog_severity) continue;
    if (!c.app.empty() && c.app != m.app) continue;
    if (!c.msgid.empty() && c.msgid != m.msgid) continue;
    if (r.code && !matches(r, m.msg)) continue;
    return {&c.category, c.severity.value_or(syslog::toReport(m.severity)), i + 1};
  }
  return {&default_category_, syslog::toReport(m.severity), 0};
}

}  // namespace reporthub::inputs::ds_receive
