// The sockets of ds_receive: the TCP listener, its connections (each with its own Framer)
// and the optional UDP socket, all non-blocking on one epoll set. It hands each message to a
// MessageSink and reads no socket while the sink is not accepting, so a hub that grants no
// credit slows senders down through TCP flow control instead of filling memory here.
#pragma once

#include "config/config.h"
#include "inputs/ds_receive/framer.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace reporthub::inputs::ds_receive {

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Whether another message may be taken now.
  virtual bool accepting() = 0;
  // One message from `peer` ("ADDR:PORT"), read from its socket at `received_ns` (ns since
  // the epoch; one clock reading serves every message of a read). Returns nullptr, or why
  // it was refused.
  virtual const char* message(std::string_view msg, std::string_view peer,
                              std::int64_t received_ns) = 0;
};

struct ServerCounters {
  std::uint64_t messages = 0;   // handed to the sink (TCP and UDP)
  std::uint64_t malformed = 0;  // of those, refused by the sink
  std::uint64_t oversized = 0;
  std::uint64_t garbage = 0;    // bytes that start no frame, skipped to the next LF
  std::uint64_t truncated = 0;  // a connection closed inside a frame
  std::uint64_t datagrams = 0;
  std::uint64_t accepted = 0;    // TCP connections
  std::uint64_t refused = 0;     // connections closed at once: max_connections reached
  std::uint64_t unframable = 0;  // connections closed: out of step beyond repair
  bool operator==(const ServerCounters&) const = default;
};

// "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of a socket address.
std::string peerName(const sockaddr_storage& addr);

class Server {
 public:
  // Binds `listen` (and `udp`, if set). Throws std::system_error naming the call, the
  // address and errno if it cannot, and std::invalid_argument for an address that does not
  // resolve.
  Server(const config::DsReceiveInput& cfg, MessageSink& sink);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The epoll descriptor: readable when a socket has something.
  int fd() const { return epoll_fd_; }
  // Handles what is ready, first what waited for the sink: accepts, reads, frames. Returns
  // true if it did anything, false when nothing was ready (or the sink stopped accepting
  // before anything could be done).
  bool poll();
  // Whether complete messages wait in a buffer for the sink to accept them.
  bool pending() const { return !paused_.empty(); }

  // Closes the listener and the UDP socket.
  void stopAccepting();
  // Closes every connection. Complete messages already read stay, and poll() still hands
  // them on as the sink accepts them; pending() says whether any are left.
  void closeConnections();
  // Messages still held in buffers (complete or not): what a stop leaves unsubmitted.
  std::size_t bufferedBytes() const;

  std::size_t connections() const { return open_; }
  const ServerCounters& counters() const { return counters_; }
  // The addresses bound, as "tcp://ADDR:PORT" and "udp://ADDR:PORT" ("" without UDP).
  const std::string& tcpAddress() const { return tcp_name_; }
  const std::string& udpAddress() const { return udp_name_; }

 private:
  struct Connection;

  void accept();
  void readConnection(Connection& c);
  // Hands on the datagrams of the last batch that waited, then reads more; false if the
  // sink stopped accepting with datagrams left.
  bool readUdp();
  // Drains what `c` holds; false if the sink stopped accepting with messages left.
  bool drain(Connection& c);
  // Closes the socket of `c`; what it holds is still drained (see closeConnections()).
  void closeSocket(Connection& c);
  // After the socket: hands on what is left and forgets `c` once it is empty.
  void finish(Connection& c);
  void logProblem(bool& logged, std::string_view peer, std::string_view what,
                  std::string_view sample, std::string_view done = "skipped and counted");
  void logUdpProblem(const std::string& peer, std::string_view what, std::string_view sample);
  void watchListener(bool on);

  const config::DsReceiveInput& cfg_;
  MessageSink& sink_;
  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  int udp_fd_ = -1;
  std::string tcp_name_, udp_name_;
  std::list<Connection> conns_;
  std::vector<Connection*> paused_;  // complete messages waiting for the sink
  std::vector<Connection*> done_;    // to forget at the end of poll(): events may name them
  std::size_t open_ = 0;
  bool refusing_ = false;  // logged a max_connections refusal; quiet until one is accepted
  bool fd_shortage_logged_ = false;
  std::int64_t listener_off_until_ms_ = 0;      // out of descriptors: accept() waits a moment
  std::unordered_set<std::string> udp_logged_;  // UDP senders whose problem was logged
  ServerCounters counters_;
  // UDP: one recvmmsg batch.
  std::vector<char> udp_buf_;
  std::vector<mmsghdr> udp_msgs_;
  std::vector<iovec> udp_iov_;
  std::vector<sockaddr_storage> udp_addr_;
  std::size_t udp_next_ = 0, udp_count_ = 0;  // datagrams of the batch not yet handed on
  std::int64_t udp_received_ns_ = 0;          // when that batch was read
};

}  // namespace reporthub::inputs::ds_receive
