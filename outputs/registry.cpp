// The output role table; see registry.h.
#include "outputs/registry.h"

#include "outputs/local/local.h"

namespace reporthub::outputs {

std::span<const OutputRole> registry() {
  static const OutputRole kRoles[] = {
      {{"local", wire::Kind::output, &local::main, "operator console: operator log + live stream"},
       routing::Sink::local},
  };
  return kRoles;
}

}  // namespace reporthub::outputs
