// The syslog server connection; see connection.h. Why sendAll waits for the acknowledgement:
// TCP syslog has no application acks, so the strongest thing a sender can know is that the
// server's kernel has the bytes. Confirming a batch to the hub only then keeps what a
// server restart can lose to what it had received but not yet read.
#include "outputs/ds_send/connection.h"

#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace reporthub::outputs::ds_send {

namespace {

using Clock = std::chrono::steady_clock;

// strerror's "Connection refused" as part of a sentence.
std::string lowerError(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

int msLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000));
}

// Keepalive finds a server that vanished without a word (a host that lost power, a NAT
// that forgot us) while the link is idle; the user timeout ends a connection whose data
// stays unacknowledged, instead of TCP's default quarter of an hour.
void tuneSocket(int fd, Duration timeout) {
  const int on = 1, idle = 60, interval = 10, count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  const auto ms =
      static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
  // Batches are written whole; Nagle would only hold back a batch's last segment.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

Connection::Connection(std::string_view target, Duration timeout) : timeout_(timeout) {
  std::string_view rest = target;
  if (rest.starts_with("tcp://")) rest.remove_prefix(6);
  const auto colon = rest.rfind(':');
  std::string_view host = rest.substr(0, colon);
  port_ = colon == std::string_view::npos ? "" : std::string(rest.substr(colon + 1));
  peer_ = std::string(rest);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  host_ = host;
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string Connection::fail(std::string_view what, int err, bool clean) {
  close();
  clean_close_ = clean;
  std::string s = "syslog server " + peer_ + ": ";
  if (!what.empty()) {
    s += what;
    if (err != 0) s += ": ";
  }
  if (err != 0) s += lowerError(err);
  return s;
}

bool Connection::open(std::string& error) {
  if (fd_ >= 0) return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  // Resolved on every connect: a server that moved to another address is found again.
  if (const int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res); rc != 0) {
    error = "syslog server " + peer_ + ": cannot resolve " + host_ + ": " + gai_strerror(rc);
    return false;
  }
  const auto deadline = Clock::now() + timeout_;
  int last_err = 0;
  std::string last_what;
  for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_err = errno;
      last_what = "socket";
      continue;
    }
    tuneSocket(fd, timeout_);
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        const int n = ::poll(&p, 1, msLeft(deadline));
        socklen_t len = sizeof err;
        if (n == 0) {
          err = ETIMEDOUT;
          last_what = "no connection within the timeout";
        } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
      }
    }
    if (err == 0) {
      fd_ = fd;
      ++connects_;
      break;
    }
    ::close(fd);
    last_err = err;
    if (err != ETIMEDOUT) last_what.clear();
  }
  freeaddrinfo(res);
  if (fd_ >= 0) return true;
  error = last_what == "no connection within the timeout" ? fail(last_what, 0)
                                                          : fail(last_what, last_err);
  return false;
}

bool Connection::peerGone(std::string& why) {
  if (fd_ < 0) {
    why = "syslog server " + peer_ + ": not connected";
    return true;
  }
  for (;;) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      why = err != 0 ? fail("", err) : fail("closed the connection", 0);
      return true;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      why = fail("closed the connection", 0, true);
      return true;
    }
    if (n < 0 && errno == EAGAIN && (p.revents & POLLRDHUP)) {
      why = fail("closed the connection", 0);
      return true;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return false;
      why = fail("", errno);
      return true;
    }
    // Bytes from a syslog server mean nothing to us; read on until EOF or nothing.
  }
}

bool Connection::sendSome(std::string_view data, std::size_t& offset, std::string& error) {
  if (fd_ < 0) {
    error = "syslog server " + peer_ + ": not connected";
    return false;
  }
  while (offset < data.size()) {
    const ssize_t n =
        ::send(fd_, data.data() + offset, data.size() - offset, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      error = fail("", errno);
      return false;
    }
    offset += static_cast<std::size_t>(n);
  }
  return true;
}

bool Connection::sendAll(std::string_view data, std::size_t& offset, std::string& error) {
  const auto deadline = Clock::now() + timeout_;
  while (offset < data.size()) {
    if (!sendSome(data, offset, error)) return false;
    if (offset == data.size()) break;
    pollfd p{fd_, POLLOUT, 0};
    const int n = ::poll(&p, 1, msLeft(deadline));
    if (n == 0) {
      error = fail("the server takes no more data (send timed out)", 0);
      return false;
    }
    if (n < 0 && errno != EINTR) {
      error = fail("poll", errno);
      return false;
    }
  }
  // Wait for the server's TCP to acknowledge it all. There is no event for that; on a
  // healthy link it is already so or a fraction of a millisecond away, so a short poll on
  // the socket (which also wakes on a close or reset) is cheap.
  int pause_ms = 0;
  for (;;) {
    int queued = 0;
    if (::ioctl(fd_, SIOCOUTQ, &queued) != 0) {
      error = fail("ioctl(SIOCOUTQ)", errno);
      return false;
    }
    if (queued == 0) return true;
    if (Clock::now() >= deadline) {
      error = fail(
          "the server did not acknowledge " + std::to_string(queued) + " bytes within the timeout",
          0);
      return false;
    }
    pollfd p{fd_, POLLRDHUP, 0};
    const int n = ::poll(&p, 1, std::min(pause_ms, msLeft(deadline)));
    if (n > 0 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP))) {
      // Closed or reset with our bytes unacknowledged: not read, whatever the reason.
      std::string why;
      peerGone(why);
      error = why.empty() ? fail("closed the connection", 0) : why;
      clean_close_ = false;
      return false;
    }
    pause_ms = std::min(pause_ms * 2 + 1, 20);
  }
}

}  // namespace reporthub::outputs::ds_send
