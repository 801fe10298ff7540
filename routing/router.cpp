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

Route build(const config::Config& cfg, const std::vector<std::string>& names) {
  Route route;
  for (const auto& name : names) {
    // A recipient listed twice under one category is delivered once.
    if (std::find(route.recipients.begin(), route.recipients.end(), name) !=
        route.recipients.end()) {
      continue;
    }
    route.recipients.push_back(name);
    const config::Recipient& r = cfg.recipients.at(name);
    const Sink sink = sinkOf(r);
    auto it = std::find_if(route.sinks.begin(), route.sinks.end(),
                           [&](const SinkDelivery& d) { return d.sink == sink; });
    if (it == route.sinks.end()) it = route.sinks.insert(route.sinks.end(), SinkDelivery{sink, {}});
    it->targets.push_back(wire::Target{name, paramsOf(r)});
    route.sink_mask |= bit(sink);
  }
  return route;
}

}  // namespace

std::string_view toString(Sink s) {
  static constexpr std::string_view kNames[] = {"local", "printer", "desksend", "ns_send",
                                                "ds_send"};
  return kNames[static_cast<std::size_t>(s)];
}

Router::Router(const config::Config& cfg) {
  for (const auto& [name, r] : cfg.recipients)
    recipients_[name] = build(cfg, {name});
  for (const auto& [category, names] : cfg.categories)
    categories_[category] = build(cfg, names);
  default_ = &categories_.at("default");
}

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
