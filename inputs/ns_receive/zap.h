// The ZAP handler of ns_receive (ZeroMQ RFC 27): ZeroMQ asks it, inside this process, whether
// a CURVE client key may connect. It accepts only the keys in allowed_clients and names the
// connection after that key's node (the ZAP user id), which every message then carries as
// its "User-Id" property, so a Hello can be checked against the key that sent it.
#pragma once

#include "common/curve.h"

#include <zmq.hpp>

#include <cstdint>
#include <set>
#include <string>

namespace reporthub::inputs::ns_receive {

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `ctx` (one handler per context, before any CURVE
  // server socket accepts). Throws zmq::error_t if it cannot.
  ZapHandler(zmq::context_t& ctx, curve::AllowedClients allowed);

  zmq::socket_t& socket() { return socket_; }
  // Answers every request waiting.
  void process();

  std::uint64_t refused() const { return refused_; }

 private:
  zmq::socket_t socket_;
  curve::AllowedClients allowed_;
  std::uint64_t refused_ = 0;
  std::set<std::string> logged_;  // peer addresses already logged (bounded)
};

}  // namespace reporthub::inputs::ns_receive
