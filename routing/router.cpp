// Category routing; see router.h.
#include "routing/router.h"

#include <algorithm>

namespace reporthub::routing {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

Sink sinkOf(const config::Recipient& r) {
  return std::visit(Overloaded{
                        [](const config::LocalRecipient&) { return Sink::local; },
                        [](const config::PrinterRecipient&) { return Sink::printer; },
                        [](const config::DsSendRecipient&) { return Sink::ds_send; },
                        [](const config::MailRecipient&) { return Sink::desksend; },
                        [](const config::NodeRecipient&) { return Sink::ns_send; },
                    },
                    r);
}

std::vector<std::string> paramsOf(const config::Recipient& r) {
  if (auto* m = std::get_if<config::MailRecipient>(&r)) return m->users;
  if (auto* n = std::get_if<config::NodeRecipient>(&r)) return {n->node, n->recipient};
  return {};
}

Route build(const config::Config& cfg, const std::vector<std::string>& names,
            const ChannelOf& channel_of) {
  Route route;
  for (const auto& name : names) {
    // A recipient listed twice under one category is delivered once.
    if (std::find(route.recipients.begin(), route.recipients.end(), name) !=
        route.recipients.end()) {
      continue;
    }
    route.recipients.push_back(name);
    const config::Recipient& r = cfg.recipients.at(name);
    const ChannelId channel = channel_of(channelName(r));
    auto it = std::find_if(route.sinks.begin(), route.sinks.end(),
                           [&](const SinkDelivery& d) { return d.channel == channel; });
    if (it == route.sinks.end()) {
      it = route.sinks.insert(route.sinks.end(), SinkDelivery{sinkOf(r), channel, {}});
    }
    it->targets.push_back(wire::Target{name, paramsOf(r)});
    route.channel_mask |= channelBit(channel);
  }
  return route;
}

}  // namespace

std::string_view toString(Sink s) {
  static constexpr std::string_view kNames[] = {"local", "printer", "desksend", "ns_send",
                                                "ds_send"};
  return kNames[static_cast<std::size_t>(s)];
}

std::string channelName(const config::Recipient& r) {
  if (auto* n = std::get_if<config::NodeRecipient>(&r)) return "ns_send:" + n->node;
  return std::string(toString(sinkOf(r)));
}

std::string relayProblem(const std::vector<std::string>& via, std::string_view node, int max_hops) {
  if (std::find(via.begin(), via.end(), node) != via.end()) {
    return "came back to " + std::string(node) + ", which it had passed already (a loop)";
  }
  if (via.size() > static_cast<std::size_t>(max_hops)) {
    return "made " + std::to_string(via.size()) + " hops, more than max_hops (" +
           std::to_string(max_hops) + ")";
  }
  return {};
}

Router::Router(const config::Config& cfg, const ChannelOf& channel_of) {
  for (const auto& [name, r] : cfg.recipients)
    recipients_[name] = build(cfg, {name}, channel_of);
  for (const auto& [category, names] : cfg.categories)
    categories_[category] = build(cfg, names, channel_of);
  default_ = &categories_.at("default");
}

Router::Router(const config::Config& cfg)
    : Router(cfg, [nodes = std::vector<std::string>()](const std::string& name) mutable {
        for (std::size_t s = 0; s < kSinkCount; ++s) {
          if (name == toString(static_cast<Sink>(s))) return static_cast<ChannelId>(s);
        }
        auto it = std::find(nodes.begin(), nodes.end(), name);
        if (it == nodes.end()) it = nodes.insert(nodes.end(), name);
        return static_cast<ChannelId>(kSinkCount + (it - nodes.begin()));
      }) {}

const Route& Router::route(std::string_view category, bool& is_default) const {
  auto it = categories_.find(category);
  is_default = it == categories_.end();
  return is_default ? *default_ : it->second;
}

const Route* Router::recipient(std::string_view name) const {
  auto it = recipients_.find(name);
  return it == recipients_.end() ? nullptr : &it->second;
}

}  // namespace reporthub::routing
