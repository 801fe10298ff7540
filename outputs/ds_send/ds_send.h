// The ds_send output: forwards the reports routed to a `ds_send` recipient to a syslog
// server as RFC 5424 messages with octet counting over one TCP connection. A batch counts
// as delivered once the server's TCP has acknowledged all of it; while the server is down
// the output answers retry and the reports wait in the hub's journal.
#pragma once

#include "common/role.h"
#include "config/config.h"
#include "outputs/delivered_ids.h"
#include "outputs/ds_send/connection.h"
#include "outputs/ds_send/rfc5424.h"
#include "outputs/output.h"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>

namespace reporthub::outputs::ds_send {

int main(ChildContext& ctx);

// Where ds_send records the ids of the reports the server has acknowledged.
std::filesystem::path deliveredIdsPath(const config::Config& cfg);

class DsSend final : public Output {
 public:
  struct Counters {
    std::uint64_t sent = 0;            // messages the server acknowledged
    std::uint64_t bad_attr_names = 0;  // attrs left out: no SD-NAME
    std::uint64_t attrs_left_out = 0;  // attrs left out: no room in the message
    std::uint64_t utf8_replaced = 0;   // invalid UTF-8 sequences replaced
    std::uint64_t truncated = 0;       // messages with a field or the text cut
    std::uint64_t resent_batches = 0;  // unconfirmed batches sent again after a break
    std::uint64_t resent_reports = 0;  // confirmed reports sent again after a reset
  };

  // Loads the delivered-ids file. Throws std::system_error if it cannot be opened.
  explicit DsSend(const config::Config& cfg);

  wire::Status deliver(const Report& r, const wire::Deliver& d, std::string& reason) override;
  wire::Status flush(std::string& reason) override;
  bool seen(std::string_view id) override { return delivered_.contains(id); }

  const Counters& counters() const { return counters_; }
  // Reports confirmed on a connection that was reset, not yet sent again.
  std::uint64_t awaitingResend() const;
  const Connection& connection() const { return conn_; }

 private:
  // The connection broke or could not be made: say so once per outage.
  void down(const std::string& error);
  // Forgets the batch not yet acknowledged; the hub sends it again.
  void dropBatch();
  // The connection ended: unless the server closed it in order, the batches confirmed
  // last on it are sent again on the next one.
  void broke();
  void note(const Report& r, const FormatNotes& notes);

  FormatOptions format_;
  Connection conn_;
  DeliveredIds delivered_;
  Counters counters_;
  struct Sent {
    std::string frames;
    std::uint64_t reports = 0;
  };
  std::string buffer_;          // frames of the current batch
  std::size_t written_ = 0;     // bytes of buffer_ handed to the socket
  std::deque<Sent> confirmed_;  // batches confirmed on this connection, newest last
  std::size_t confirmed_bytes_ = 0;
  std::deque<Sent> resend_;  // confirmed on a connection that was reset: sent again first
  std::uint64_t resent_in_buffer_ = 0;  // reports of resend_ at the front of buffer_
  std::uint64_t batch_ = 0;             // reports in the current batch
  std::string broken_;                  // why the connection broke in the middle of a batch
  std::uint64_t failures_ = 0;          // failed attempts in a row (0: the server is reachable)
  bool said_bad_attr_ = false, said_left_out_ = false, said_utf8_ = false, said_cut_ = false;
};

}  // namespace reporthub::outputs::ds_send
