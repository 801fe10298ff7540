// ds_receive's sockets; see server.h. Level-triggered epoll: a connection left unread while
// the sink is not accepting is simply reported ready again later, so nothing needs
// re-arming and nothing is lost.
#include "inputs/ds_receive/server.h"

#include "common/log.h"
#include "common/report.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace reporthub::inputs::ds_receive {

namespace {

// Reads per ready connection and poll(): enough to amortise the epoll round, few enough
// that one busy sender does not starve the others.
constexpr int kReadsPerEvent = 4;
constexpr int kEvents = 64;
constexpr int kAcceptsPerPoll = 64;
constexpr unsigned kUdpBatch = 32;
constexpr std::size_t kMaxLoggedUdpPeers = 100;
// Out of descriptors: accepting waits this long instead of spinning on the listener.
constexpr std::int64_t kAcceptPauseMs = 1000;

// Tags in epoll_event.data.ptr for the two sockets that are not connections.
char kListenTag;
char kUdpTag;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "tcp://HOST:PORT" -> a bound, non-blocking socket (listening for TCP).
int bindEndpoint(const std::string& endpoint, int type, std::string& bound) {
  const std::size_t scheme = endpoint.find("://");
  const std::size_t colon = endpoint.rfind(':');
  std::string host = endpoint.substr(scheme + 3, colon - scheme - 3);
  const std::string port = endpoint.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = type;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const bool any = host.empty() || host == "*";
  if (const int rc = getaddrinfo(any ? nullptr : host.c_str(), port.c_str(), &hints, &res)) {
    throw std::invalid_argument("cannot resolve " + endpoint + ": " + gai_strerror(rc));
  }
  const int fd = socket(res->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int e = errno;
    freeaddrinfo(res);
    throw std::system_error(e, std::generic_category(), "socket for " + endpoint);
  }
  const int one = 1;
  // A restarted ds_receive must be able to bind while old connections sit in TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rc = bind(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 || (type == SOCK_STREAM && listen(fd, SOMAXCONN) != 0)) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(),
                            std::string(rc != 0 ? "bind " : "listen ") + endpoint);
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound = endpoint.substr(0, scheme + 3) + peerName(addr);
  return fd;
}

}  // namespace

std::string peerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    port = ntohs(a.sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    port = ntohs(a.sin6_port);
  }
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// One TCP connection: its socket, its framing state, and the sink adapter that counts what
// the framer hands on or refuses.
struct Server::Connection : FrameSink {
  Connection(Server& s, int f, std::string p, std::uint32_t max)
      : server(s), fd(f), peer(std::move(p)), framer(max) {}

  bool accepting() override { return server.sink_.accepting(); }
  void message(std::string_view msg) override {
    ++server.counters_.messages;
    if (const char* why = server.sink_.message(msg, peer, received_ns)) {
      ++server.counters_.malformed;
      server.logProblem(logged, peer, std::string("malformed syslog (") + why + ")", msg);
    }
  }
  void refused(Refusal why, std::string_view sample) override {
    ServerCounters& n = server.counters_;
    switch (why) {
      case Refusal::oversized:
        ++n.oversized;
        break;
      case Refusal::garbage:
        ++n.garbage;
        break;
      case Refusal::truncated:
        ++n.truncated;
        break;
      case Refusal::unframable:
        ++n.unframable;
        break;
    }
    std::string what(toString(why));
    const char* done = "skipped and counted";
    if (why == Refusal::oversized) {
      what += " message (over max_message, " + std::to_string(server.cfg_.max_message) + " bytes)";
    } else if (why == Refusal::truncated) {
      what = "a frame cut short by the end of the connection";
    } else if (why == Refusal::unframable) {
      what = "an octet count over " + std::to_string(Framer::hardBound(server.cfg_.max_message)) +
             " bytes (the stream cannot be resynchronised)";
      done = "connection closed and counted";
    }
    server.logProblem(logged, peer, what, sample, done);
  }

  Server& server;
  int fd;  // -1 once closed; its buffer may still hold messages
  std::string peer;
  Framer framer;
  bool eof = false;     // no more bytes will come
  bool paused = false;  // in paused_
  bool done = false;    // in done_
  bool logged = false;  // a problem of this connection was logged: the rest are counted only
  std::int64_t received_ns = 0;  // when the last bytes were read
  std::list<Connection>::iterator self;
};

Server::Server(const config::DsReceiveInput& cfg, MessageSink& sink) : cfg_(cfg), sink_(sink) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  try {
    listen_fd_ = bindEndpoint(cfg.listen, SOCK_STREAM, tcp_name_);
    watchListener(true);
    if (!cfg.udp.empty()) {
      udp_fd_ = bindEndpoint(cfg.udp, SOCK_DGRAM, udp_name_);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &kUdpTag;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, udp_fd_, &ev);
      const std::size_t slot = cfg.max_message + 1;  // one more: a longer datagram is cut
      udp_buf_.resize(slot * kUdpBatch);
      udp_msgs_.resize(kUdpBatch);
      udp_iov_.resize(kUdpBatch);
      udp_addr_.resize(kUdpBatch);
    }
  } catch (...) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (udp_fd_ >= 0) ::close(udp_fd_);
    ::close(epoll_fd_);
    throw;
  }
}

Server::~Server() {
  stopAccepting();
  for (Connection& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(epoll_fd_);
}

void Server::watchListener(bool on) {
  if (listen_fd_ < 0) return;
  if (on) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &kListenTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  } else {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  }
}

void Server::stopAccepting() {
  if (listen_fd_ >= 0) ::close(listen_fd_);  // closing also takes it out of the epoll set
  if (udp_fd_ >= 0) ::close(udp_fd_);
  listen_fd_ = udp_fd_ = -1;
  udp_next_ = udp_count_ = 0;
}

void Server::closeConnections() {
  for (Connection& c : conns_) {
    if (c.fd < 0) continue;
    closeSocket(c);
    if (!c.paused) finish(c);
  }
}

std::size_t Server::bufferedBytes() const {
  std::size_t n = 0;
  for (const Connection& c : conns_)
    n += c.framer.buffered();
  return n;
}

void Server::logProblem(bool& logged, std::string_view peer, std::string_view what,
                        std::string_view sample, std::string_view done) {
  if (logged) return;
  logged = true;
  spdlog::warn(
      "{} from {} (it starts '{}'): {}; further problems from this sender are only counted", what,
      peer, printable(sample, 32), done);
}

void Server::logUdpProblem(const std::string& peer, std::string_view what,
                           std::string_view sample) {
  // Once per sending host (its ports change), for the first hosts only: a flood of forged
  // sources must not grow this set.
  if (udp_logged_.size() >= kMaxLoggedUdpPeers) return;
  bool logged = !udp_logged_.insert(peer.substr(0, peer.rfind(':'))).second;
  logProblem(logged, peer, what, sample);
}

void Server::closeSocket(Connection& c) {
  ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.eof = true;
  --open_;
}

void Server::finish(Connection& c) {
  const Framer::Status s = c.framer.finish(c);
  if (s == Framer::Status::paused) {
    if (!c.paused) {
      c.paused = true;
      paused_.push_back(&c);
    }
    return;
  }
  if (!c.done) {
    c.done = true;
    done_.push_back(&c);
  }
}

void Server::accept() {
  for (int i = 0; i < kAcceptsPerPoll && listen_fd_ >= 0; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (!fd_shortage_logged_) {
          fd_shortage_logged_ = true;
          spdlog::warn(
              "cannot accept a connection: {}; new connections wait in the listen queue and "
              "accepting is retried every second",
              strerror(errno));
        }
        watchListener(false);
        listener_off_until_ms_ = nowMs() + kAcceptPauseMs;
      }
      return;
    }
    fd_shortage_logged_ = false;
    std::string peer = peerName(addr);
    if (open_ >= static_cast<std::size_t>(cfg_.max_connections)) {
      ::close(fd);
      ++counters_.refused;
      if (!refusing_) {
        refusing_ = true;
        spdlog::warn(
            "refused a connection from {}: {} connections are open (max_connections); it was "
            "closed at once, and further refusals are only counted until one is accepted again",
            peer, open_);
      }
      continue;
    }
    refusing_ = false;
    conns_.emplace_back(*this, fd, std::move(peer), cfg_.max_message);
    Connection& c = conns_.back();
    c.self = std::prev(conns_.end());
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    ++open_;
    ++counters_.accepted;
    spdlog::debug("connection from {}", c.peer);
  }
}

bool Server::drain(Connection& c) {
  const Framer::Status s = c.framer.drain(c);
  if (s == Framer::Status::paused) {
    if (!c.paused) {
      c.paused = true;
      paused_.push_back(&c);
    }
    return false;
  }
  if (s == Framer::Status::broken) {
    // The refusal was logged and counted by the framer's sink; nothing of this stream can be
    // trusted any more.
    if (c.fd >= 0) closeSocket(c);
    if (!c.done) {
      c.done = true;
      done_.push_back(&c);
    }
  }
  return true;
}

void Server::readConnection(Connection& c) {
  for (int i = 0; i < kReadsPerEvent && c.fd >= 0; ++i) {
    const std::span<char> room = c.framer.space();
    if (room.empty()) return;  // full of complete messages: drained when the sink accepts
    const ssize_t n = recv(c.fd, room.data(), room.size(), 0);
    if (n > 0) {
      c.received_ns = nowNs();
      c.framer.filled(static_cast<std::size_t>(n));
      if (!drain(c) || c.done) return;
      if (static_cast<std::size_t>(n) < room.size()) return;  // the socket is empty for now
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) spdlog::info("connection from {}: {}; closed", c.peer, strerror(errno));
    closeSocket(c);
    finish(c);
    return;
  }
}

bool Server::readUdp() {
  if (udp_fd_ < 0) return true;
  for (;;) {
    for (; udp_next_ < udp_count_; ++udp_next_) {
      if (!sink_.accepting()) return false;
      const mmsghdr& m = udp_msgs_[udp_next_];
      const std::string peer = peerName(udp_addr_[udp_next_]);
      std::string_view msg(static_cast<const char*>(udp_iov_[udp_next_].iov_base), m.msg_len);
      ++counters_.datagrams;
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' || msg.back() == '\0'))
        msg.remove_suffix(1);
      if (msg.empty()) continue;
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) || msg.size() > cfg_.max_message) {
        ++counters_.oversized;
        logUdpProblem(peer, "oversized datagram (over max_message)", msg);
        continue;
      }
      ++counters_.messages;
      if (const char* why = sink_.message(msg, peer, udp_received_ns_)) {
        ++counters_.malformed;
        logUdpProblem(peer, std::string("malformed syslog (") + why + ")", msg);
      }
    }
    const std::size_t slot = cfg_.max_message + 1;
    for (unsigned i = 0; i < kUdpBatch; ++i) {
      udp_iov_[i] = {udp_buf_.data() + i * slot, slot};
      udp_msgs_[i] = {};
      udp_msgs_[i].msg_hdr.msg_iov = &udp_iov_[i];
      udp_msgs_[i].msg_hdr.msg_iovlen = 1;
      udp_msgs_[i].msg_hdr.msg_name = &udp_addr_[i];
      udp_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    const int n = recvmmsg(udp_fd_, udp_msgs_.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    udp_next_ = 0;
    udp_count_ = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (udp_count_ == 0) return true;
    udp_received_ns_ = nowNs();
  }
}

bool Server::poll() {
  bool did = false;
  if (listener_off_until_ms_ != 0 && nowMs() >= listener_off_until_ms_) {
    listener_off_until_ms_ = 0;
    watchListener(true);
  }
  // What waited for the sink goes first, in the order it waited.
  if (!paused_.empty()) {
    std::vector<Connection*> waiting;
    waiting.swap(paused_);
    for (std::size_t i = 0; i < waiting.size(); ++i) {
      Connection& c = *waiting[i];
      c.paused = false;
      if (!sink_.accepting()) {
        for (std::size_t j = i; j < waiting.size(); ++j) {
          waiting[j]->paused = true;
          paused_.push_back(waiting[j]);
        }
        break;
      }
      did = true;
      if (c.eof) {
        finish(c);
      } else {
        drain(c);
      }
    }
  }
  if (udp_next_ < udp_count_ && sink_.accepting()) {
    did = true;
    readUdp();
  }
  if (paused_.empty() && sink_.accepting()) {
    epoll_event events[kEvents];
    const int n = epoll_wait(epoll_fd_, events, kEvents, 0);
    for (int i = 0; i < n; ++i) {
      if (!sink_.accepting()) break;  // level-triggered: the rest is reported again later
      void* tag = events[i].data.ptr;
      did = true;
      if (tag == &kListenTag) {
        accept();
      } else if (tag == &kUdpTag) {
        readUdp();
      } else {
        Connection& c = *static_cast<Connection*>(tag);
        if (c.fd >= 0 && !c.paused) readConnection(c);
      }
    }
  }
  for (Connection* c : done_)
    conns_.erase(c->self);
  done_.clear();
  return did;
}

}  // namespace reporthub::inputs::ds_receive
