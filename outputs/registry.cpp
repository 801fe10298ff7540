// The output role table; see registry.h.
#include "outputs/registry.h"

#include "outputs/local/local.h"
#include "outputs/printer/printer.h"

namespace reporthub::outputs {

std::span<const OutputRole> registry() {
  static const OutputRole kRoles[] = {
      {{"local", wire::Kind::output, &local::main, "operator console: operator log + live stream"},
       routing::Sink::local},
      {{"printer", wire::Kind::output, &printer::main, "pages to a print command or spool"},
       routing::Sink::printer},
  };
  return kRoles;
}

}  // namespace reporthub::outputs
