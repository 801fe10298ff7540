// ZeroMQ helpers; see zmq_util.h.
#include "common/zmq_util.h"

#include <cerrno>
#include <memory>

namespace reporthub::zmqu {

void configure(zmq::socket_t& s, int hwm, std::chrono::milliseconds linger) {
  s.set(zmq::sockopt::sndhwm, hwm);
  s.set(zmq::sockopt::rcvhwm, hwm);
  s.set(zmq::sockopt::linger, static_cast<int>(linger.count()));
}

bool recvMultipart(zmq::socket_t& s, std::vector<zmq::message_t>& frames, std::size_t max_frames,
                   bool& overflow) {
  frames.clear();
  overflow = false;
  for (;;) {
    zmq::message_t msg;
    zmq::recv_result_t got;
    try {
      got = s.recv(msg, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (!got) {
      // Only possible before the first frame: later frames of a message arrive atomically.
      return !frames.empty();
    }
    const bool more = msg.more();
    if (frames.size() < max_frames) {
      frames.push_back(std::move(msg));
    } else {
      overflow = true;
    }
    if (!more) return true;
  }
}

int poll(std::vector<zmq::pollitem_t>& items, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items.data(), items.size(), timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return 0;
    throw;
  }
}

zmq::message_t take(std::string&& s) {
  auto owned = std::make_unique<std::string>(std::move(s));
  zmq::message_t m(
      owned->data(), owned->size(),
      [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned.get());
  owned.release();  // the message owns it now; had its constructor thrown, this would free it
  return m;
}

bool sendMultipart(zmq::socket_t& s, std::vector<zmq::message_t>& frames, int& err) {
  err = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
    for (;;) {
      try {
        if (!s.send(frames[i], flags)) {
          err = EAGAIN;
          return false;
        }
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        err = e.num();
        return false;
      }
    }
  }
  return true;
}

}  // namespace reporthub::zmqu
