// A child that misbehaves on purpose, used only by tests, so supervision and shutdown are
// tested against real processes: it crashes, hangs, ignores SIGTERM, stops slowly, or
// submits a burst of reports.
#pragma once

#include "common/role.h"

namespace reporthub::inputs::testproc {

int main(ChildContext& ctx);

}  // namespace reporthub::inputs::testproc
