// The one table of output roles, and which routing sink each serves. An output is added
// here and nowhere else.
#pragma once

#include "common/role.h"
#include "routing/router.h"

#include <optional>
#include <span>

namespace reporthub::outputs {

struct OutputRole {
  RoleInfo info;
  routing::Sink sink;
};

std::span<const OutputRole> registry();

}  // namespace reporthub::outputs
