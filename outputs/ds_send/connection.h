// ds_send's one TCP connection to the syslog server: a non-blocking connect with a timeout,
// keepalive on, writes that wait for the server's TCP to acknowledge them, and a check
// whether the server has closed or reset the connection. Every failure comes back as a
// sentence that names the server ("syslog server 127.0.0.1:514: connection refused").
#pragma once

#include "common/duration.h"

#include <string>
#include <string_view>

namespace reporthub::outputs::ds_send {

class Connection {
 public:
  // `target` is tcp://HOST:PORT (HOST may be a name, an IPv4 address or [IPv6]).
  // `timeout` bounds a connect, and a send until the server has acknowledged it.
  Connection(std::string_view target, Duration timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& peer() const { return peer_; }  // "HOST:PORT"
  bool isOpen() const { return fd_ >= 0; }

  // Connects if not connected. On failure returns false with `error` set.
  bool open(std::string& error);

  // Whether the server has closed or reset the connection, or sent anything we cannot
  // use (syslog servers send nothing; bytes are read and ignored). Never blocks. Sets
  // `why` when it returns true; the connection is closed then.
  bool peerGone(std::string& why);

  // Writes what the socket takes now from data[offset...], without waiting, and advances
  // `offset`. False with `error` on a broken connection (then closed).
  bool sendSome(std::string_view data, std::size_t& offset, std::string& error);

  // Writes data[offset...] and waits until the server's TCP has acknowledged every byte
  // (nothing left in our send queue), within the timeout. False with `error` otherwise
  // (then closed).
  bool sendAll(std::string_view data, std::size_t& offset, std::string& error);

  // Whether the connection last ended by the server closing it in order (end of stream,
  // no reset): its process had read everything sent before it closed. Anything else (a
  // reset, a write error, a timeout) may have left bytes it acknowledged unread.
  bool closedCleanly() const { return clean_close_; }

  void close();

  std::uint64_t connects() const { return connects_; }

 private:
  std::string fail(std::string_view what, int err, bool clean = false);

  std::string host_;
  std::string port_;
  std::string peer_;
  Duration timeout_;
  int fd_ = -1;
  std::uint64_t connects_ = 0;
  bool clean_close_ = false;
};

}  // namespace reporthub::outputs::ds_send
