// ns_receive's ZAP handler; see zap.h.
#include "inputs/ns_receive/zap.h"

#include "common/zmq_util.h"

#include <zmq.h>

#include <spdlog/spdlog.h>

#include <vector>

namespace reporthub::inputs::ns_receive {

namespace {

// Distinct addresses logged; past this a refusal is only counted, so a scan cannot fill
// the log or memory.
constexpr std::size_t kMaxLogged = 1024;

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& ctx, curve::AllowedClients allowed)
    : socket_(ctx, zmq::socket_type::rep), allowed_(std::move(allowed)) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::process() {
  std::vector<zmq::message_t> req;
  bool overflow = false;
  while (zmqu::recvMultipart(socket_, req, 8, overflow)) {
    // A REP socket must answer every request it read; a malformed one gets a refusal.
    std::string version, request_id, address, mechanism, key;
    if (req.size() >= 6) {
      version = zmqu::view(req[0]);
      request_id = zmqu::view(req[1]);
      address = zmqu::view(req[3]);
      mechanism = zmqu::view(req[5]);
    }
    if (req.size() == 7 && mechanism == "CURVE" && req[6].size() == 32) {
      char z85[curve::kKeyTextSize + 1];
      if (zmq_z85_encode(z85, static_cast<const std::uint8_t*>(req[6].data()), 32)) key = z85;
    }
    const auto it = allowed_.find(key);
    const bool ok = it != allowed_.end();
    std::vector<zmq::message_t> reply;
    reply.emplace_back(std::string_view("1.0"));
    reply.emplace_back(request_id.data(), request_id.size());
    reply.emplace_back(std::string_view(ok ? "200" : "400"));
    reply.emplace_back(std::string_view(ok ? "OK" : "key not allowed"));
    const std::string user = ok ? it->second : std::string();
    reply.emplace_back(user.data(), user.size());
    reply.emplace_back();  // no metadata
    int err = 0;
    zmqu::sendMultipart(socket_, reply, err);
    if (ok) continue;
    ++refused_;
    if (logged_.size() < kMaxLogged && logged_.insert(address).second) {
      spdlog::warn(
          "refused a connection from {}: its CURVE key {} is not in allowed_clients; "
          "counted ({} so far; further refusals from this address are only counted)",
          address.empty() ? "an unknown address" : address, key.empty() ? "(none)" : key, refused_);
    }
  }
}

}  // namespace reporthub::inputs::ns_receive
