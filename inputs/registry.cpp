// The input role table; see registry.h.
#include "inputs/registry.h"

#include "inputs/check/check.h"
#include "inputs/ds_receive/ds_receive.h"
#include "inputs/logscan/logscan.h"
#include "inputs/ns_receive/ns_receive.h"
#include "inputs/testproc/testproc.h"

namespace reporthub::inputs {

std::span<const RoleInfo> registry() {
  static const RoleInfo kRoles[] = {
      {"check", wire::Kind::input, &check::main,
       "runs checks on their intervals, reports state changes"},
      {"logscan", wire::Kind::input, &logscan::main,
       "follows log files and reports lines matching rules"},
      {"ds_receive", wire::Kind::input, &ds_receive::main,
       "accepts syslog over TCP and UDP and reports it by rules"},
      {"ns_receive", wire::Kind::input, &ns_receive::main,
       "accepts reports from remote hubs' ns_send links"},
      {"testproc", wire::Kind::input, &testproc::main, "misbehaves on purpose, for tests"},
  };
  return kRoles;
}

}  // namespace reporthub::inputs
