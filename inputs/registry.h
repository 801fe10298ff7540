// The one table of input roles. An input is added here and nowhere else.
#pragma once

#include "common/role.h"

#include <span>

namespace reporthub::inputs {

std::span<const RoleInfo> registry();

}  // namespace reporthub::inputs
