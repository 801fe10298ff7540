// ZeroMQ helpers shared by the hub, its children and hubctl: socket options every socket
// must have, multipart receive with a frame limit, and EINTR-safe polling.
#pragma once

#include <zmq.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace reporthub::zmqu {

// Options set before bind/connect on every socket: a high-water mark and a finite LINGER
// (the default, infinite, can hang the process at exit).
void configure(zmq::socket_t& s, int hwm, std::chrono::milliseconds linger);

// Receives one whole multipart message without blocking. Returns false if none is waiting.
// Frames beyond `max_frames` are read and discarded, and `overflow` is set.
bool recvMultipart(zmq::socket_t& s, std::vector<zmq::message_t>& frames, std::size_t max_frames,
                   bool& overflow);

// zmq::poll that returns 0 (nothing ready) when interrupted by a signal instead of throwing.
int poll(std::vector<zmq::pollitem_t>& items, std::chrono::milliseconds timeout);

// Sends frames as one multipart message. Returns false with errno-like code in `err` when
// it could not be queued (EAGAIN at the high-water mark, EHOSTUNREACH for a gone peer).
bool sendMultipart(zmq::socket_t& s, std::vector<zmq::message_t>& frames, int& err);

// A message that takes over the bytes of `s` instead of copying them; ZeroMQ frees them once
// the message is sent or dropped.
zmq::message_t take(std::string&& s);

inline std::string_view view(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

}  // namespace reporthub::zmqu
