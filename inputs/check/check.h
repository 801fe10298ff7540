// The check input role: one process runs every check of `inputs.check` on its interval and
// reports state changes to the hub (DESIGN §1: the "check" row; issue 4). The scheduling and
// state logic is in runner.h; this is the process around it.
#pragma once

#include "common/role.h"

namespace reporthub::inputs::check {

int main(ChildContext& ctx);

}  // namespace reporthub::inputs::check
