// Category -> recipients translation (DESIGN §2). Plain values in, decisions out: no
// sockets, files or YAML, so every rule is tested with plain values.
#pragma once

#include "common/wire.h"
#include "config/config.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace reporthub::routing {

// The output process that serves a recipient kind.
enum class Sink : std::uint8_t { local, printer, desksend, ns_send, ds_send };
constexpr std::size_t kSinkCount = 5;
std::string_view toString(Sink s);
constexpr std::uint8_t bit(Sink s) {
  return static_cast<std::uint8_t>(1u << static_cast<int>(s));
}

// Everything one output must do for one report: the recipients it serves.
struct SinkDelivery {
  Sink sink;
  std::vector<wire::Target> targets;
};

// The decision for one category, computed once per routing table.
struct Route {
  std::vector<std::string> recipients;  // names, in config order, each once
  std::vector<SinkDelivery> sinks;      // grouped by output, each output once
  std::uint8_t sink_mask = 0;
};

class Router {
 public:
  explicit Router(const config::Config& cfg);

  // The route for a category; unknown categories get "default" and set `is_default`.
  const Route& route(std::string_view category, bool& is_default) const;

  // The route for one recipient name of this node (a report relayed from a remote node
  // names its recipient: no second category translation). nullptr if unknown.
  const Route* recipient(std::string_view name) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Table = std::unordered_map<std::string, Route, Hash, std::equal_to<>>;
  Table categories_;
  Table recipients_;
  const Route* default_ = nullptr;
};

}  // namespace reporthub::routing
