// A loopback TCP listener the ds_send tests control byte by byte: accept, read, close with
// or without reading (an orderly close or a reset), a small receive buffer.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace reporthub::test {

// A loopback listener on a port chosen by the kernel.
class Listener {
 public:
  explicit Listener(int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 4) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() {
    if (peer_ >= 0) close(peer_);
    close(fd_);
  }
  std::string target() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string peer() const { return "127.0.0.1:" + std::to_string(port_); }
  // The next connection; reads on it give up after 5 s, so a test fails instead of hanging.
  int accept() {
    if (peer_ >= 0) close(peer_);
    peer_ = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    timeval tv{5, 0};
    if (peer_ >= 0) setsockopt(peer_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (peer_ >= 0 && getpeername(peer_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      client_port_ = ntohs(addr.sin_port);
    return peer_;
  }

  // Waits until the client's end of the last accepted connection has taken in our close
  // (a FIN puts it in CLOSE_WAIT, a reset in CLOSE), as its kernel reports it in
  // /proc/net/tcp. False if that does not happen within 5 s.
  bool clientSawClose() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    char port[8];
    std::snprintf(port, sizeof port, ":%04X", client_port_);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in("/proc/net/tcp");
      std::string line;
      bool established = false;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state;
        fields >> sl >> local >> remote >> state;
        if (local.size() > 5 && local.ends_with(port) && state == "01") established = true;
      }
      if (!established) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  std::string readAll(std::size_t n) {
    std::string got;
    char buf[4096];
    while (got.size() < n) {
      const ssize_t r = ::recv(peer_, buf, sizeof buf, 0);
      if (r <= 0) break;
      got.append(buf, static_cast<std::size_t>(r));
    }
    return got;
  }
  void closePeer() {
    close(peer_);
    peer_ = -1;
  }

 private:
  int fd_ = -1;
  int peer_ = -1;
  int port_ = 0;
  int client_port_ = 0;
};

}  // namespace reporthub::test
