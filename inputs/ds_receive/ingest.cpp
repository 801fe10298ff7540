// One syslog message to one submitted report; see ingest.h.
#include "inputs/ds_receive/ingest.h"

#include "common/report.h"

namespace reporthub::inputs::ds_receive {

Ingest::Ingest(const config::DsReceiveInput& cfg, std::string node, Submitter& out)
    : mapper_(cfg), node_(std::move(node)), out_(out) {}

const char* Ingest::message(std::string_view msg, std::string_view peer, std::int64_t received_ns) {
  if (const char* why = parseSyslog(msg, parsed_, local_, received_ns)) return why;
  const Mapper::Result m = mapper_.map(parsed_);
  newReportId(received_ns, id_);
  BodyFields f;
  f.id = id_;
  f.ts_ns = parsed_.ts_ns != 0 ? parsed_.ts_ns : received_ns;
  f.origin = node_;
  f.category = *m.category;
  f.severity = m.severity;
  f.peer = peer;
  out_.submit(id_, f.category, body_.build(f, parsed_));
  ++submitted_;
  return nullptr;
}

}  // namespace reporthub::inputs::ds_receive
