// Compiling logscan patterns; see pattern.h.
#include "config/pattern.h"

namespace reporthub::config {

std::string pcreMessage(int code) {
  PCRE2_UCHAR message[256];
  if (pcre2_get_error_message(code, message, sizeof message) < 0)
    return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(message);
}

pcre2_code* compileLogPattern(std::string_view pattern, std::uint32_t options, std::string& error) {
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 options, &code, &offset, cc);
  pcre2_compile_context_free(cc);
  if (!re) error = pcreMessage(code) + " at offset " + std::to_string(offset);
  return re;
}

}  // namespace reporthub::config
