// Category -> recipients translation (DESIGN §2). Plain values in, decisions out: no
// sockets, files or YAML, so every rule is tested with plain values.
#pragma once

#include "common/wire.h"
#include "config/config.h"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace reporthub::routing {

// The output process that serves a recipient kind.
enum class Sink : std::uint8_t { local, printer, desksend, ns_send, ds_send };
constexpr std::size_t kSinkCount = 5;
std::string_view toString(Sink s);

// Where deliveries wait in the journal, each with its own cursor: one per output, and one
// per destination node for ns_send, so a node that is down holds up nobody else. A channel
// is named after the process that serves it ("local", "ns_send:hq"); the journal numbers
// channels and keeps the numbers across restarts.
using ChannelId = std::uint8_t;
constexpr std::size_t kMaxChannels = 64;
constexpr std::uint64_t channelBit(ChannelId c) {
  return std::uint64_t{1} << c;
}
using ChannelOf = std::function<ChannelId(const std::string& name)>;

// The channel a recipient's deliveries wait in.
std::string channelName(const config::Recipient& r);

// Everything one channel must do for one report: the recipients it serves.
struct SinkDelivery {
  Sink sink;
  ChannelId channel = 0;
  std::vector<wire::Target> targets;
};

// The decision for one category, computed once per routing table.
struct Route {
  std::vector<std::string> recipients;  // names, in config order, each once
  std::vector<SinkDelivery> sinks;      // grouped by channel, each channel once
  std::uint64_t channel_mask = 0;
};

// Why a report that travelled `via` (each hop appended its node) may not be taken at node
// `node`: it was here before (a loop), or it made more than `max_hops` hops. "" if it may.
std::string relayProblem(const std::vector<std::string>& via, std::string_view node, int max_hops);

class Router {
 public:
  // `channel_of` numbers the channels (the journal's numbering, in the hub).
  Router(const config::Config& cfg, const ChannelOf& channel_of);
  // Numbers channels on its own (Sink order, then nodes as met): for dry runs and tests.
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
