// The mapping rules of inputs.ds_receive, compiled: which category and severity a parsed
// syslog message gets. The first rule whose every condition holds wins; the cheap conditions
// are tested first, and a rule's pattern runs only when they all hold.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "common/report.h"
#include "config/config.h"
#include "inputs/ds_receive/parser.h"

#include <string>
#include <vector>

namespace reporthub::inputs::ds_receive {

class Mapper {
 public:
  // Compiles each rule's pattern as the config loader validated it, with JIT. Throws
  // std::invalid_argument naming the rule if one does not compile.
  explicit Mapper(const config::DsReceiveInput& cfg);
  ~Mapper();
  Mapper(const Mapper&) = delete;
  Mapper& operator=(const Mapper&) = delete;

  struct Result {
    const std::string* category = nullptr;  // owned by the Mapper
    Severity severity = Severity::info;
    std::size_t rule = 0;  // 1-based index of the rule that matched; 0: default_category
  };
  Result map(const SyslogMessage& m);

 private:
  struct Rule {
    config::SyslogRule cfg;
    pcre2_code* code = nullptr;
    pcre2_match_data* data = nullptr;
    bool jit = false;
    bool error_logged = false;
  };
  bool matches(Rule& r, std::string_view msg);

  std::vector<Rule> rules_;
  std::string default_category_;
  pcre2_match_context* mctx_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
};

}  // namespace reporthub::inputs::ds_receive
