// ds_send's connection against loopback listeners the test controls: a refused connect, bytes
// arriving whole, a server that closes, one that resets (closes with unread data), and one
// that stops reading, each reported with the server's address.
#include "outputs/ds_send/connection.h"

#include "tests/outputs/ds_send/listener.h"
#include "tests/support/net.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

using reporthub::outputs::ds_send::Connection;
using reporthub::test::Listener;
using namespace std::chrono_literals;

TEST_CASE("a refused connect names the server and the reason", "[ds_send]") {
  const int port = reporthub::test::freePort();
  Connection c("tcp://127.0.0.1:" + std::to_string(port), 2s);
  std::string error;
  CHECK_FALSE(c.open(error));
  CHECK(error == "syslog server 127.0.0.1:" + std::to_string(port) + ": connection refused");
  CHECK_FALSE(c.isOpen());
  CHECK_FALSE(c.closedCleanly());
}

TEST_CASE("a name that does not resolve is reported as such", "[ds_send]") {
  Connection c("tcp://no-such-host.invalid:514", 2s);
  std::string error;
  CHECK_FALSE(c.open(error));
  CHECK(
      error.starts_with("syslog server no-such-host.invalid:514: cannot resolve "
                        "no-such-host.invalid: "));
}

TEST_CASE("sent bytes arrive whole and are acknowledged", "[ds_send]") {
  Listener server;
  Connection c(server.target(), 2s);
  std::string error;
  REQUIRE(c.open(error));
  REQUIRE(server.accept() >= 0);
  std::string data(300'000, 'x');
  data += "end";
  const std::size_t size = data.size();
  std::string got;
  // The server reads while the client waits for its acknowledgement.
  std::thread reader([&] { got = server.readAll(size); });
  std::size_t offset = 0;
  CHECK(c.sendAll(data, offset, error));
  reader.join();
  CHECK(error.empty());
  CHECK(offset == size);
  CHECK(got.size() == size);
  CHECK(got.ends_with("xend"));
  std::string why;
  CHECK_FALSE(c.peerGone(why));
  CHECK(c.isOpen());
}

TEST_CASE("a server that closed the connection is noticed before the next write", "[ds_send]") {
  Listener server;
  Connection c(server.target(), 2s);
  std::string error;
  REQUIRE(c.open(error));
  REQUIRE(server.accept() >= 0);
  server.closePeer();
  std::string why;
  // The FIN arrives at once on loopback, but give the kernel its moment.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  bool gone = false;
  while (!(gone = c.peerGone(why)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(gone);
  CHECK(why == "syslog server " + server.peer() + ": closed the connection");
  CHECK(c.closedCleanly());  // nothing unread: an orderly close
  CHECK_FALSE(c.isOpen());
}

TEST_CASE("a server that closed with unread data resets the connection", "[ds_send]") {
  Listener server;
  Connection c(server.target(), 2s);
  std::string error;
  REQUIRE(c.open(error));
  REQUIRE(server.accept() >= 0);
  const std::string data = "12 unread bytes";
  std::size_t offset = 0;
  REQUIRE(c.sendAll(data, offset, error));  // acknowledged by the kernel, never read
  server.closePeer();                       // unread data: the kernel answers with RST
  std::string why;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  bool gone = false;
  while (!(gone = c.peerGone(why)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(gone);
  CHECK(why == "syslog server " + server.peer() + ": connection reset by peer");
  CHECK_FALSE(c.closedCleanly());  // what it acknowledged may be unread
}

TEST_CASE("a server that stops reading makes the send time out", "[ds_send]") {
  Listener server(4096);
  Connection c(server.target(), 300ms);
  std::string error;
  REQUIRE(c.open(error));
  REQUIRE(server.accept() >= 0);
  const std::string data(16 * 1024 * 1024, 'x');
  std::size_t offset = 0;
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(c.sendAll(data, offset, error));
  CHECK(offset < data.size());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(error.starts_with("syslog server " + server.peer() + ": "));
  CHECK((error.find("send timed out") != std::string::npos ||
         error.find("did not acknowledge") != std::string::npos));
  CHECK_FALSE(c.isOpen());
  CHECK_FALSE(c.closedCleanly());
}
