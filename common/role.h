// What every child role gets when the `reporthub child ROLE` command starts it, and the
// shape of a role's entry in the input and output registries.
#pragma once

#include "common/wire.h"

#include <zmq.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace reporthub {

namespace config {
struct Config;
}

struct ChildContext {
  const config::Config& config;  // the config the hub validated and handed over
  std::string role;
  std::string id;                 // supervised instance name: "local", "testproc:crashy"
  std::string endpoint;           // the hub's child socket
  std::vector<std::string> args;  // role-specific arguments
  zmq::context_t& zmq;
};

using RoleMain = int (*)(ChildContext&);

struct RoleInfo {
  std::string_view name;  // folder, namespace, config key and log prefix are this word
  wire::Kind kind;
  RoleMain main;
  std::string_view summary;
};

}  // namespace reporthub
