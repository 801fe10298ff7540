// Encoding a syslog message as a report; see report_body.h. The field order and types are
// those of encodeReport() (common/report.cpp); a unit test decodes the result with
// decodeReport() to keep the two in step.
#include "inputs/ds_receive/report_body.h"

#include "common/syslog.h"

#include <array>
#include <utility>

namespace reporthub::inputs::ds_receive {

namespace {

// An attr value longer than the hub's per-field limit would get the whole report refused.
constexpr std::size_t kMaxAttr = ReportLimits{}.max_field;

using Attr = std::pair<std::string_view, std::string_view>;

// The attrs in key order, as a std::map would hold them; returns how many are set.
std::size_t attrsOf(const BodyFields& f, const SyslogMessage& m, std::array<Attr, 8>& out) {
  const Attr all[] = {{"app", m.app},   {"facility", syslog::facilityName(m.facility)},
                      {"host", m.host}, {"msgid", m.msgid},
                      {"peer", f.peer}, {"procid", m.procid},
                      {"sd", m.sd},     {"syslog_severity", syslog::severityName(m.severity)}};
  std::size_t n = 0;
  for (const Attr& a : all) {
    if (!a.second.empty()) out[n++] = {a.first, a.second.substr(0, kMaxAttr)};
  }
  return n;
}

}  // namespace

std::string_view ReportBody::build(const BodyFields& f, const SyslogMessage& m) {
  buf_.clear();
  msgpack::packer<msgpack::sbuffer> pk(buf_);
  auto str = [&](std::string_view s) {
    pk.pack_str(static_cast<std::uint32_t>(s.size()));
    pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  };
  pk.pack_array(9);
  str(f.id);
  pk.pack(f.ts_ns);
  str(f.origin);
  str("ds");
  str(f.category);
  pk.pack(static_cast<std::uint8_t>(f.severity));
  str(m.msg);
  std::array<Attr, 8> attrs;
  const std::size_t n = attrsOf(f, m, attrs);
  pk.pack_map(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    str(attrs[i].first);
    str(attrs[i].second);
  }
  pk.pack_array(0);  // via: the report starts here
  return {buf_.data(), buf_.size()};
}

Report toReport(const BodyFields& f, const SyslogMessage& m) {
  Report r;
  r.id = f.id;
  r.ts_ns = f.ts_ns;
  r.origin = f.origin;
  r.source = "ds";
  r.category = f.category;
  r.severity = f.severity;
  r.text = m.msg;
  std::array<Attr, 8> attrs;
  const std::size_t n = attrsOf(f, m, attrs);
  for (std::size_t i = 0; i < n; ++i)
    r.attrs.emplace(attrs[i].first, attrs[i].second);
  return r;
}

}  // namespace reporthub::inputs::ds_receive
