// Loopback networking for tests: ports chosen at run time, and plain TCP clients. Header-only
// and without Catch, so benches use it too.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace reporthub::test {

// A loopback port that was free a moment ago (SOCK_STREAM or SOCK_DGRAM). Whoever binds it
// next may still lose a race: a server that fails to bind picks another.
inline int freePort(int type = SOCK_STREAM) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot pick a free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// A TCP connection to 127.0.0.1:port, or -1.
inline int connectTcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether something accepts TCP connections on 127.0.0.1:port now.
inline bool tcpAccepting(int port) {
  const int fd = connectTcp(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace reporthub::test
