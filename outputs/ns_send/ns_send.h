// The ns_send output: forwards reports for one remote node (`reporthub child ns_send NODE`,
// one process per entry in `nodes`) to that node's ns_receive, and tells its hub a report is
// delivered only once the remote hub has journaled it (DESIGN §2, §3).
#pragma once

#include "common/role.h"

namespace reporthub::outputs::ns_send {

// Deliveries the hub may have in flight to one link: enough to cover the remote round trip
// (its journal sync included) at full rate.
constexpr std::uint32_t kWindow = 8192;

int main(ChildContext& ctx);

}  // namespace reporthub::outputs::ns_send
