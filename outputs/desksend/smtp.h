// desksend's SMTP client: one message to one recipient per call, through a relay, with
// libcurl (STARTTLS when offered or required, optional AUTH, the connection kept open
// between messages). It says whether a failure is worth retrying: a server's 5xx to the
// recipient or the message is permanent, anything else (refused connection, timeout, 4xx,
// TLS or login problems) is not the message's fault and is retried by the hub.
#pragma once

#include "common/duration.h"
#include "common/wire.h"
#include "config/config.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace reporthub::outputs::desksend {

struct SmtpOptions {
  std::string url;        // smtp://host:port or smtps://host:port
  std::string mail_from;  // envelope sender, a bare address
  config::SmtpSettings::Tls tls = config::SmtpSettings::Tls::try_;
  std::string user;  // AUTH when not empty
  std::string password;
  Duration timeout = std::chrono::seconds(30);  // connect, and the whole of one message
  std::string ca_file;                          // "" = the system's CA store
};

struct SmtpOutcome {
  wire::Status status = wire::Status::ok;
  std::string reason;  // for retry and failed: what went wrong, with the server's words
};

// How a failed transfer counts, from the command the server refused and its reply code (0:
// no refusal, the connection or TLS failed): failed for a 5xx to RCPT TO or DATA (or the end
// of the message), else retry. Exposed for tests.
wire::Status classifySmtpFailure(std::string_view refused_command, int reply_code);

class SmtpClient {
 public:
  // Throws std::runtime_error if libcurl cannot be set up (curl_global_init is the
  // caller's, once per process).
  explicit SmtpClient(SmtpOptions opts);
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // Sends `message` (CRLF line ends; libcurl dot-stuffs it) to `rcpt`. ok means the
  // server answered 250 to the end of the message.
  SmtpOutcome send(std::string_view rcpt, std::string_view message);

  // New connections opened so far: one for any number of messages while the relay keeps
  // the connection open.
  std::uint64_t connections() const { return connections_; }
  const std::string& url() const { return opts_.url; }

 private:
  friend struct SmtpCallbacks;  // libcurl's read and debug callbacks
  void open();                  // a new handle, so a new connection for the next message

  SmtpOptions opts_;
  void* curl_ = nullptr;  // CURL*, kept out of this header
  std::string_view body_;
  std::size_t body_pos_ = 0;
  std::string last_command_;     // verb of the last command sent (never its arguments)
  std::string refused_command_;  // the command the server first refused in this transfer
  std::string refusal_;          // and its reply line
  int refusal_code_ = 0;
  bool data_sent_ = false;  // DATA went out in this transfer
  std::uint64_t connections_ = 0;
};

}  // namespace reporthub::outputs::desksend
