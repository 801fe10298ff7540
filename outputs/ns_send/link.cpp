// ns_send's connection to a remote node; see link.h.
#include "outputs/ns_send/link.h"

#include "common/zmq_util.h"

#include <unistd.h>

#include <zmq.h>

#include <spdlog/spdlog.h>

#include <cstring>

namespace reporthub::outputs::ns_send {

namespace {

// What a handshake failure means to an operator, from the monitor's event and value.
std::string handshakeProblem(int event, int value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return "the node refused this node's CURVE key (status " + std::to_string(value) +
           "): is it in that node's allowed_clients?";
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    switch (value) {
      case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mismatch: one end uses CURVE and the other does not";
      case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
        return "CURVE handshake failed: the node's key is not the pinned public_key";
      default: {
        char hex[16];
        snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(value));
        return std::string("handshake failed (ZeroMQ protocol error ") + hex + ")";
      }
    }
  }
  return std::string("handshake failed: ") + strerror(value);
}

}  // namespace

Link::Link(zmq::context_t& ctx, LinkOptions opts) : ctx_(ctx), opts_(std::move(opts)) {}

Link::~Link() {
  close();
}

std::string Link::name() const {
  return "link to " + opts_.peer + " (" + opts_.address + ")";
}

void Link::close() {
  if (socket_) {
    zmq_socket_monitor(socket_->handle(), nullptr, 0);
    socket_->set(zmq::sockopt::linger, 0);
  }
  socket_.reset();
  monitor_.reset();
  state_ = State::closed;
}

void Link::open(TimePoint now) {
  close();
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  // Linger 0: what was not acknowledged is resent on the next session anyway.
  zmqu::configure(*socket_, 100'000, std::chrono::milliseconds(0));
  socket_->set(zmq::sockopt::reconnect_ivl, 100);
  socket_->set(zmq::sockopt::reconnect_ivl_max, 2000);
  // The receiver sends only small envelopes; anything bigger is not from a receiver.
  socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxEnvelopeBytes));
  if (!opts_.server_key.empty()) {
    // Z85 keys as 41-byte NUL-terminated strings, as libzmq documents.
    zmq_setsockopt(socket_->handle(), ZMQ_CURVE_SERVERKEY, opts_.server_key.c_str(), 41);
    zmq_setsockopt(socket_->handle(), ZMQ_CURVE_PUBLICKEY, opts_.client.public_key.c_str(), 41);
    zmq_setsockopt(socket_->handle(), ZMQ_CURVE_SECRETKEY, opts_.client.secret_key.c_str(), 41);
  }
  const std::string mon = "inproc://ns_send-monitor-" + std::to_string(++sessions_);
  zmq_socket_monitor(socket_->handle(), mon.c_str(),
                     ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  monitor_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
  monitor_->connect(mon);
  try {
    socket_->connect(opts_.address);
  } catch (const zmq::error_t& e) {
    // The address was validated at load; a name that does not resolve ends up here.
    transport_error_ = std::string("cannot connect: ") + e.what();
    state_ = State::hello;
    waiting_ = true;
    waiting_since_ = now;
    return;
  }
  state_ = State::hello;
  credit_ = 0;
  ping_pending_ = false;
  handshaken_ = false;
  // Queued until the connection is made: the first message of the session is the Hello.
  sendEnvelope(wire::Hello{"ns_send", opts_.node, getpid(), wire::Kind::input, 0}, nullptr, now);
  waiting_ = true;
  waiting_since_ = now;
}

void Link::lose(TimePoint now, const std::string& why) {
  close();
  reopen_at_ = now + opts_.heartbeat;
  if (on_down) on_down(why);
}

void Link::addPollItems(std::vector<zmq::pollitem_t>& items) {
  if (socket_) items.push_back({socket_->handle(), 0, ZMQ_POLLIN, 0});
  if (monitor_) items.push_back({monitor_->handle(), 0, ZMQ_POLLIN, 0});
}

void Link::readMonitor(TimePoint now) {
  while (monitor_) {
    zmq::message_t head, addr;
    if (!monitor_->recv(head, zmq::recv_flags::dontwait)) return;
    if (head.more()) (void)monitor_->recv(addr, zmq::recv_flags::dontwait);
    if (head.size() < 6) continue;
    std::uint16_t event = 0;
    std::uint32_t value = 0;
    std::memcpy(&event, head.data(), 2);
    std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
    switch (event) {
      case ZMQ_EVENT_CONNECT_RETRIED:
        transport_error_ = "cannot connect (nothing listening there, or unreachable)";
        break;
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        transport_error_.clear();
        handshaken_ = true;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        transport_error_ = handshakeProblem(event, static_cast<int>(value));
        break;
      case ZMQ_EVENT_DISCONNECTED:
        // Before a handshake the Hello is still queued and ZeroMQ's reconnect is harmless.
        // After one, whatever was written may be lost mid-session: start a fresh session.
        if (handshaken_) {
          lose(now,
               transport_error_.empty() ? "connection closed by the remote end" : transport_error_);
          return;
        }
        break;
      default:
        break;
    }
  }
}

bool Link::sendEnvelope(const wire::Envelope& e, const zmq::message_t* body, TimePoint now) {
  if (!socket_) return false;
  const auto env = wire::encodeView(e);
  try {
    if (!socket_->send(zmq::buffer(env), body ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                              : zmq::send_flags::dontwait)) {
      return false;
    }
    if (body) {
      zmq::message_t copy;
      copy.copy(const_cast<zmq::message_t&>(*body));  // shares the buffer
      // After the first frame the rest of a multipart message is always accepted.
      (void)socket_->send(copy, zmq::send_flags::none);
    }
  } catch (const zmq::error_t& err) {
    if (err.num() == EINTR) return false;
    throw;
  }
  last_sent_ = now;
  return true;
}

bool Link::submit(const wire::Submit& m, const zmq::message_t& body, TimePoint now) {
  if (state_ != State::up) return false;
  if (!sendEnvelope(m, &body, now)) return false;
  if (!waiting_) {
    waiting_ = true;
    waiting_since_ = now;
  }
  return true;
}

void Link::process(TimePoint now) {
  readMonitor(now);
  bool overflow = false;
  while (socket_ && zmqu::recvMultipart(*socket_, frames_, 2, overflow)) {
    last_heard_ = now;
    ping_pending_ = false;
    handle(frames_, now);
  }
}

void Link::handle(std::vector<zmq::message_t>& frames, TimePoint now) {
  wire::Envelope env;
  if (frames.size() != 1 || !wire::decode(zmqu::view(frames[0]), env).empty()) {
    ++malformed_;
    if (malformed_ == 1) {
      spdlog::warn(
          "{}: malformed message from the receiver; ignored and counted (further ones "
          "are only counted)",
          name());
    }
    return;
  }
  if (auto* w = std::get_if<wire::Welcome>(&env)) {
    if (state_ != State::hello) return;
    state_ = State::up;
    credit_ = w->credit;
    if (on_up) on_up();
  } else if (auto* a = std::get_if<wire::Ack>(&env)) {
    if (state_ != State::up) return;
    credit_ = std::max(credit_, a->credit);
    if (on_ack) on_ack(*a);
  } else if (auto* c = std::get_if<wire::Control>(&env)) {
    if (c->command.starts_with("refused")) {
      lose(now, "refused by " + opts_.peer + ": " +
                    c->command.substr(std::min<std::size_t>(c->command.size(), 9)));
    }
    // "pong" (and anything else) only shows the receiver is alive.
  }
}

void Link::tick(TimePoint now, bool outstanding) {
  if (state_ == State::closed) {
    if (now >= reopen_at_) open(now);
    return;
  }
  const bool expecting = state_ == State::hello || ping_pending_ || outstanding;
  if (!expecting) {
    waiting_ = false;
  } else if (!waiting_) {
    waiting_ = true;
    waiting_since_ = now;
  }
  const TimePoint quiet_since = std::max(last_heard_, waiting_since_);
  if (expecting && now - quiet_since >= 3 * opts_.heartbeat) {
    std::string why = "no answer for " + formatDuration(3 * opts_.heartbeat);
    if (state_ == State::hello) why += " to hello";
    if (!transport_error_.empty()) why += " (" + transport_error_ + ")";
    lose(now, why);
    return;
  }
  if (state_ == State::up && !ping_pending_ && now - last_sent_ >= opts_.heartbeat) {
    if (sendEnvelope(wire::Control{"ping"}, nullptr, now)) {
      ping_pending_ = true;
      if (!waiting_) {
        waiting_ = true;
        waiting_since_ = now;
      }
    }
  }
}

Link::TimePoint Link::nextTimer() const {
  if (state_ == State::closed) return reopen_at_;
  TimePoint t = TimePoint::max();
  if (waiting_) t = std::max(last_heard_, waiting_since_) + 3 * opts_.heartbeat;
  if (state_ == State::up && !ping_pending_) t = std::min(t, last_sent_ + opts_.heartbeat);
  return t;
}

}  // namespace reporthub::outputs::ns_send
