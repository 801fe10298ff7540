// The child side of the child protocol: how an input or output process talks to its hub.
// It owns the DEALER socket and a signalfd for SIGTERM/SIGINT/SIGHUP, so a role's loop polls
// two descriptors and gets stop requests, desk changes and deliveries as plain calls.
#pragma once

#include "common/duration.h"
#include "common/report.h"
#include "common/wire.h"

#include <zmq.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub {

class ChildLink {
 public:
  struct Options {
    std::string endpoint;  // the hub's child socket
    std::string role;
    std::string id;
    wire::Kind kind = wire::Kind::input;
    std::uint32_t window = 1024;  // outputs: deliveries accepted in flight
  };

  // Connects and exchanges Hello/Welcome. Throws std::runtime_error if the hub does not
  // answer within `timeout`.
  ChildLink(zmq::context_t& ctx, Options opts, Duration timeout = std::chrono::seconds(10));
  ~ChildLink();
  ChildLink(const ChildLink&) = delete;
  ChildLink& operator=(const ChildLink&) = delete;

  // Tells the hub this process is serving; the hub counts it as up only from now.
  void ready();

  bool deskOn() const { return desk_on_; }
  bool stopRequested() const { return stop_requested_; }

  // Called for control commands from the hub ("deskon", "deskoff", "stop") and for SIGHUP
  // ("reopen"). Stop requests also set stopRequested().
  std::function<void(const std::string&)> on_control;
  // Outputs: called for each delivery, in order; the body is the encoded report, valid
  // during the call.
  std::function<void(const wire::Deliver&, std::string_view body)> on_deliver;
  // Outputs, optional: called for each delivery kLookahead deliveries before on_deliver
  // gets it, so that what it will look up can load meanwhile.
  std::function<void(const wire::Deliver&)> on_coming;
  static constexpr std::size_t kLookahead = 16;

  // Waits up to `timeout` for socket or signal activity and dispatches it; a pump that may
  // wait (timeout above zero) first sends the batch being gathered. Returns true if
  // anything was handled.
  bool pump(Duration timeout);

  // Inputs: sends one report at once, first waiting (pumping) while the hub has granted no
  // credit. Returns false if a stop was requested while waiting.
  bool submit(const Report& r);
  // Inputs: the same for a report from a remote node, for `recipient` on this node.
  bool submit(const Report& r, const std::string& recipient);
  // Inputs: adds a report already encoded to the batch being gathered (a receiver that
  // validated the bytes it got need not encode them again), for a role that takes in many
  // reports at a time. Never waits: returns false, adding nothing, while the hub has granted
  // no credit. The batch goes to the hub once full, on flush(), and when pump() may wait.
  // A zero-timeout pump() only takes in what arrived, so a busy input sends full batches
  // (each one envelope, one wake-up and one journal write in the hub); a role calls flush()
  // when it runs out of work and before it waits on anything but pump().
  bool trySubmit(const wire::Submit& m, std::string_view body);
  void flush();
  // Inputs: waits until every submitted report is acknowledged, or the timeout passes.
  bool waitAcked(Duration timeout);
  // Inputs: whether submit() would send at once rather than wait for credit.
  bool hasCredit() const { return next_seq_ <= credit_; }
  std::uint64_t submitted() const { return next_seq_ - 1; }
  std::uint64_t acked() const { return acked_; }

  // Outputs: reports delivery results to the hub.
  void sendResult(const wire::Result& r);
  // Tells the hub something about this child's state, e.g. a network output's "link-up" or
  // "link-down: REASON" (at most 256 bytes; longer text is cut).
  void sendControl(std::string command);

  zmq::socket_t& socket() { return socket_; }
  int signalFd() const { return signal_fd_; }

 private:
  void send(const wire::Envelope& e, const std::string* body = nullptr);
  void sendEncoded(std::string_view envelope, zmq::message_t* body);
  void handleSignals();
  void handleMessage(std::vector<zmq::message_t>& frames);

  Options opts_;
  zmq::socket_t socket_;
  int signal_fd_ = -1;
  bool desk_on_ = false;
  bool stop_requested_ = false;
  std::uint64_t next_seq_ = 1;
  std::uint64_t acked_ = 0;
  std::uint64_t credit_ = 0;
  std::vector<zmq::message_t> frames_;
  wire::SubmitBatch batch_;     // gathered by trySubmit, not yet sent: the first
  std::size_t batch_size_ = 0;  // batch_size_ of its reports
  std::string batch_body_;
  std::size_t batch_envelope_ = 0;        // bound of its envelope's bytes (wire::batchBytes)
  std::size_t last_batch_body_ = 0;       // body bytes of the batch sent before
  wire::Envelope env_;                    // the message being handled; reused, as are:
  std::vector<std::string_view> bodies_;  // a received batch, split
};

}  // namespace reporthub
