// The ns_receive input: accepts reports from remote hubs' ns_send links on a ROUTER socket
// (`inputs.ns_receive.listen`, CURVE with allow-listed client keys when configured), submits
// each to this hub for the recipient it names, and acknowledges to the sender only what this
// hub has journaled (DESIGN §2, §3). The link protocol is in outputs/ns_send/README.md.
#pragma once

#include "common/role.h"

#include <cstdint>

namespace reporthub::inputs::ns_receive {

// Bounds applied before anything is decoded or stored for a peer.
constexpr std::size_t kMaxPeers = 64;              // link sessions at once
constexpr std::uint64_t kPeerWindow = 8192;        // reports a peer may have unacknowledged
constexpr std::size_t kMaxQueuedBytes = 64 << 20;  // bodies waiting for the hub's credit

int main(ChildContext& ctx);

}  // namespace reporthub::inputs::ns_receive
