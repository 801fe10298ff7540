// ns_send's connection to one remote node's ns_receive: a DEALER socket (CURVE when the
// node's public key is pinned) with a monitor, the session handshake (Hello -> Welcome),
// heartbeats, and loss detection. A lost session closes its socket and, after a pause, opens
// a fresh one, so each session is exactly one connection that starts with Hello.
#pragma once

#include "common/curve.h"
#include "common/duration.h"
#include "common/wire.h"

#include <zmq.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace reporthub::outputs::ns_send {

struct LinkOptions {
  std::string node;        // this hub's node: the Hello's id
  std::string peer;        // the remote node's name, for messages
  std::string address;     // tcp://HOST:PORT of its ns_receive
  std::string server_key;  // its pinned public key (Z85); "" for a plain link
  curve::KeyPair client;   // this node's keys, when server_key is set
  Duration heartbeat = std::chrono::seconds(1);
};

class Link {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  Link(zmq::context_t& ctx, LinkOptions opts);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Called when the receiver's Welcome arrives (the session is up), for each Ack, and when
  // the session is lost or refused (with why; a new one opens by itself after a pause).
  std::function<void()> on_up;
  std::function<void(const wire::Ack&)> on_ack;
  std::function<void(const std::string& why)> on_down;

  bool up() const { return state_ == State::up; }
  std::uint64_t credit() const { return credit_; }
  // "link to NODE (ADDRESS)": how warnings and retry reasons name this link.
  std::string name() const;

  // Adds the socket and monitor to a poll set; process() reads them.
  void addPollItems(std::vector<zmq::pollitem_t>& items);
  void process(TimePoint now);

  // Sends one Submit and its body (copied by reference count). False if ZeroMQ's queue is
  // full (nothing sent: try again later). Only while up().
  bool submit(const wire::Submit& m, const zmq::message_t& body, TimePoint now);

  // Heartbeats, loss detection and re-opening. `outstanding`: something sent is not yet
  // acknowledged, so silence from the receiver counts.
  void tick(TimePoint now, bool outstanding);
  // When tick() next has something to do.
  TimePoint nextTimer() const;

  // Closes the socket now (at exit).
  void close();

 private:
  enum class State { closed, hello, up };
  void open(TimePoint now);
  void lose(TimePoint now, const std::string& why);
  void readMonitor(TimePoint now);
  bool sendEnvelope(const wire::Envelope& e, const zmq::message_t* body, TimePoint now);
  void handle(std::vector<zmq::message_t>& frames, TimePoint now);

  zmq::context_t& ctx_;
  LinkOptions opts_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<zmq::socket_t> monitor_;
  int sessions_ = 0;  // names each session's monitor endpoint
  State state_ = State::closed;
  std::uint64_t credit_ = 0;
  TimePoint reopen_at_{};
  TimePoint last_heard_{};
  TimePoint last_sent_{};
  TimePoint waiting_since_{};  // when we began waiting for an answer (Hello, ping)
  bool ping_pending_ = false;
  bool waiting_ = false;
  bool handshaken_ = false;  // this session's connection completed its ZMTP handshake
  std::uint64_t malformed_ = 0;
  std::string transport_error_;  // what the monitor last said went wrong with the connection
  std::vector<zmq::message_t> frames_;
};

}  // namespace reporthub::outputs::ns_send
