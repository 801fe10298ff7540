// The logscan input role: follows the files of `inputs.logscan`, matches their lines against
// each file's rules, and submits a report per match (DESIGN §1, §5). The hub starts it while
// the desk is on and kills it on DeskOff and DMStop, so it keeps its place in offsets saved
// only for acknowledged reports.
#pragma once

#include "common/role.h"

namespace reporthub::inputs::logscan {

int main(ChildContext& ctx);

}  // namespace reporthub::inputs::logscan
