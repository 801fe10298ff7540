// Child side of the child protocol; see child_link.h.
#include "common/child_link.h"

#include "common/zmq_util.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace reporthub {

namespace {

int makeSignalFd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("signalfd: ") + strerror(errno));
  return fd;
}

}  // namespace

ChildLink::ChildLink(zmq::context_t& ctx, Options opts, Duration timeout)
    : opts_(std::move(opts)), socket_(ctx, zmq::socket_type::dealer) {
  signal_fd_ = makeSignalFd();
  zmqu::configure(socket_, 100'000, std::chrono::seconds(2));
  // A routing id unique to this process: a restarted child must never collide with the
  // connection of its predecessor that the hub has not yet seen close.
  socket_.set(zmq::sockopt::routing_id, opts_.id + "/" + std::to_string(getpid()));
  socket_.connect(opts_.endpoint);
  send(wire::Hello{opts_.role, opts_.id, getpid(), opts_.kind, opts_.window});

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<zmq::pollitem_t> items{{socket_.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      throw std::runtime_error("hub did not answer hello at " + opts_.endpoint);
    zmqu::poll(items, left);
    bool overflow = false;
    while (zmqu::recvMultipart(socket_, frames_, 4, overflow)) {
      wire::Envelope env;
      if (!frames_.empty() && wire::decode(zmqu::view(frames_[0]), env).empty()) {
        if (auto* w = std::get_if<wire::Welcome>(&env)) {
          credit_ = w->credit;
          desk_on_ = w->desk_on;
          return;
        }
      }
    }
  }
}

ChildLink::~ChildLink() {
  if (signal_fd_ >= 0) close(signal_fd_);
}

void ChildLink::ready() {
  send(wire::Ready{});
}

void ChildLink::send(const wire::Envelope& e, const std::string* body) {
  if (!body) return sendEncoded(wire::encodeView(e), nullptr);
  zmq::message_t m(body->data(), body->size());
  sendEncoded(wire::encodeView(e), &m);
}

void ChildLink::sendEncoded(std::string_view env, zmq::message_t* body) {
  for (;;) {
    try {
      // Blocking send: the hub grants credit, so this only waits if the hub is wedged.
      socket_.send(zmq::buffer(env), body ? zmq::send_flags::sndmore : zmq::send_flags::none);
      if (body) socket_.send(*body, zmq::send_flags::none);
      return;
    } catch (const zmq::error_t& err) {
      if (err.num() != EINTR) throw;
    }
  }
}

void ChildLink::handleSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGHUP) {
      if (on_control) on_control("reopen");
    } else {
      stop_requested_ = true;
      if (on_control) on_control("stop");
    }
  }
}

void ChildLink::handleMessage(std::vector<zmq::message_t>& frames) {
  wire::Envelope& env = env_;
  if (frames.empty()) return;
  if (auto err = wire::decode(zmqu::view(frames[0]), env); !err.empty()) {
    spdlog::warn("malformed message from hub ({}); ignored", err);
    return;
  }
  if (auto* ack = std::get_if<wire::Ack>(&env)) {
    acked_ = std::max(acked_, ack->upto);
    credit_ = std::max(credit_, ack->credit);
  } else if (auto* b = std::get_if<wire::DeliverBatch>(&env)) {
    if (frames.size() != 2 || !wire::splitBodies(zmqu::view(frames[1]), b->sizes, bodies_)) {
      spdlog::warn("deliveries {}.. without their bodies; ignored", b->deliveries.front().seq);
      return;
    }
    const std::size_t n = bodies_.size();
    if (on_coming) {
      for (std::size_t i = 0; i < std::min(n, kLookahead); ++i)
        on_coming(b->deliveries[i]);
    }
    for (std::size_t i = 0; on_deliver && i < n; ++i) {
      if (on_coming && i + kLookahead < n) on_coming(b->deliveries[i + kLookahead]);
      on_deliver(b->deliveries[i], bodies_[i]);
    }
  } else if (auto* c = std::get_if<wire::Control>(&env)) {
    if (c->command == "deskon") desk_on_ = true;
    if (c->command == "deskoff") desk_on_ = false;
    if (c->command == "stop") stop_requested_ = true;
    if (on_control) on_control(c->command);
  }
}

bool ChildLink::pump(Duration timeout) {
  if (timeout.count() > 0) flush();
  std::vector<zmq::pollitem_t> items{{socket_.handle(), 0, ZMQ_POLLIN, 0},
                                     {nullptr, signal_fd_, ZMQ_POLLIN, 0}};
  zmqu::poll(items, timeout);
  bool any = false;
  if (items[1].revents & ZMQ_POLLIN) {
    handleSignals();
    any = true;
  }
  bool overflow = false;
  while (zmqu::recvMultipart(socket_, frames_, 4, overflow)) {
    handleMessage(frames_);
    any = true;
  }
  return any;
}

bool ChildLink::submit(const Report& r) {
  return submit(r, std::string());
}

bool ChildLink::submit(const Report& r, const std::string& recipient) {
  while (next_seq_ > credit_) {
    if (stop_requested_) return false;
    pump(std::chrono::milliseconds(100));
  }
  flush();  // keeps the order of reports gathered before
  const std::string body = encodeReport(r);
  wire::Submit m{next_seq_, r.id, r.category, recipient, {}};
  if (!recipient.empty()) m.via = r.via;
  send(m, &body);
  ++next_seq_;
  return true;
}

bool ChildLink::trySubmit(const wire::Submit& m, std::string_view body) {
  if (next_seq_ > credit_) return false;
  if (batch_size_ == 0) {
    batch_.seq = next_seq_;
    batch_body_.reserve(wire::batchBodyReserve(last_batch_body_));
  }
  // Assigned over the batch's earlier reports: their strings keep their capacity.
  if (batch_size_ == batch_.reports.size()) batch_.reports.emplace_back();
  wire::Submit& slot = batch_.reports[batch_size_++];
  slot.seq = next_seq_;
  slot.id.assign(m.id);
  slot.category.assign(m.category);
  slot.recipient.assign(m.recipient);
  slot.via = m.via;
  batch_.sizes.push_back(static_cast<std::uint32_t>(body.size()));
  batch_body_.append(body);
  batch_envelope_ += wire::batchBytes(slot);
  ++next_seq_;
  if (batch_size_ >= wire::kMaxBatch || batch_body_.size() >= wire::kBatchBodyBytes ||
      batch_envelope_ >= wire::kBatchEnvelopeBytes) {
    flush();
  }
  return true;
}

void ChildLink::flush() {
  if (batch_size_ == 0) return;
  batch_.reports.resize(batch_size_);
  last_batch_body_ = batch_body_.size();
  zmq::message_t body = zmqu::take(std::move(batch_body_));
  sendEncoded(wire::encodeView(batch_), &body);
  batch_size_ = 0;
  batch_envelope_ = 0;
  batch_.sizes.clear();
  batch_body_.clear();  // moved from
}

bool ChildLink::waitAcked(Duration timeout) {
  flush();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (acked_ < next_seq_ - 1) {
    auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pump(left);
  }
  return true;
}

void ChildLink::sendResult(const wire::Result& r) {
  send(r);
}

void ChildLink::sendControl(std::string command) {
  // The envelope decoder's bound on a string field.
  constexpr std::size_t kMaxCommand = 256;
  if (command.size() > kMaxCommand) command.resize(kMaxCommand);
  send(wire::Control{std::move(command)});
}

}  // namespace reporthub
