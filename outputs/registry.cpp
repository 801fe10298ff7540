// The output role table; see registry.h.
#include "outputs/registry.h"

#include "outputs/desksend/desksend.h"
#include "outputs/ds_send/ds_send.h"
#include "outputs/local/local.h"
#include "outputs/ns_send/ns_send.h"
#include "outputs/printer/printer.h"

namespace reporthub::outputs {

std::span<const OutputRole> registry() {
  static const OutputRole kRoles[] = {
      {{"local", wire::Kind::output, &local::main, "operator console: operator log + live stream"},
       routing::Sink::local},
      {{"printer", wire::Kind::output, &printer::main, "pages to a print command or spool"},
       routing::Sink::printer},
      {{"desksend", wire::Kind::output, &desksend::main,
        "mail to users: one message per user into Maildirs, optionally by SMTP"},
       routing::Sink::desksend},
      {{"ns_send", wire::Kind::output, &ns_send::main,
        "forwards to a remote hub's ns_receive, one process per node"},
       routing::Sink::ns_send},
      {{"ds_send", wire::Kind::output, &ds_send::main,
        "forwards to a syslog server: RFC 5424 over TCP with octet counting"},
       routing::Sink::ds_send},
  };
  return kRoles;
}

}  // namespace reporthub::outputs
