// The ds_receive input role: accepts syslog over TCP (and UDP if configured), maps each
// message to a report and submits it to the hub (DESIGN §1). It runs only while its hub
// holds <state_dir>/ds.lock, and on DMStop stage 1 it stops accepting, closes every
// connection, submits what it had already read and exits.
#pragma once

#include "common/role.h"

#include <filesystem>
#include <string>

namespace reporthub::inputs::ds_receive {

int main(ChildContext& ctx);

}  // namespace reporthub::inputs::ds_receive
