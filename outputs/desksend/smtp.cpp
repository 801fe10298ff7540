// desksend's SMTP client over libcurl; see smtp.h.
#include "outputs/desksend/smtp.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace reporthub::outputs::desksend {

namespace {

constexpr std::size_t kMaxReason = 400;  // a Result reason is bounded; keep the useful part

CURL* handle(void* p) {
  return static_cast<CURL*>(p);
}

std::string trimmedLine(const char* data, std::size_t size) {
  std::string line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  // The server's words go into logs and status: keep them printable.
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return line;
}

}  // namespace

struct SmtpCallbacks {
  static std::size_t readBody(char* buf, std::size_t size, std::size_t n, void* p) {
    auto* self = static_cast<SmtpClient*>(p);
    const std::size_t len = std::min(size * n, self->body_.size() - self->body_pos_);
    std::memcpy(buf, self->body_.data() + self->body_pos_, len);
    self->body_pos_ += len;
    return len;
  }

  static int onDebug(CURL*, curl_infotype type, char* data, std::size_t size, void* p) {
    auto* self = static_cast<SmtpClient*>(p);
    if (type == CURLINFO_HEADER_IN) {
      // A reply may span lines ("250-..." then "250 ..."): the last one ends it.
      std::string_view text(data, size);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
      const auto nl = text.rfind('\n');
      if (nl != std::string_view::npos) text.remove_prefix(nl + 1);
      const std::string line = trimmedLine(text.data(), text.size());
      // The first refusal is what failed; libcurl may still say QUIT after it.
      if (self->refusal_code_ == 0 && line.size() >= 3 && line[0] >= '4' && line[0] <= '5' &&
          std::isdigit(static_cast<unsigned char>(line[1])) &&
          std::isdigit(static_cast<unsigned char>(line[2]))) {
        self->refusal_code_ = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        self->refusal_ = line;
        // The reply to the end of the message comes after the body, not after a command:
        // once DATA went out, a refusal is about the message.
        self->refused_command_ = self->data_sent_ ? "DATA" : self->last_command_;
      }
    } else if (type == CURLINFO_HEADER_OUT) {
      // Only the verb: AUTH carries the credentials.
      std::string_view text(data, size);
      const auto end = text.find_first_of(" \r\n");
      self->last_command_.assign(text.substr(0, end));
      for (char& c : self->last_command_)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (self->last_command_ == "DATA") self->data_sent_ = true;
    }
    return 0;
  }
};

wire::Status classifySmtpFailure(std::string_view refused_command, int reply_code) {
  // A 5xx to the recipient or to the message is the server's final word on this message.
  // A 5xx anywhere else (MAIL FROM, AUTH, STARTTLS, EHLO) is about the relay or our
  // settings, the same for every message: retried, so nothing is lost while it is fixed.
  if (reply_code >= 500 && reply_code < 600 &&
      (refused_command == "RCPT" || refused_command == "DATA")) {
    return wire::Status::failed;
  }
  return wire::Status::retry;
}

SmtpClient::SmtpClient(SmtpOptions opts) : opts_(std::move(opts)) {
  open();
}

SmtpClient::~SmtpClient() {
  if (curl_) curl_easy_cleanup(handle(curl_));
}

void SmtpClient::open() {
  if (curl_) curl_easy_cleanup(handle(curl_));  // closes its connection (QUIT)
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("cannot set up libcurl for SMTP (curl_easy_init failed)");
  CURL* c = handle(curl_);
  curl_easy_setopt(c, CURLOPT_URL, opts_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &SmtpCallbacks::readBody);
  curl_easy_setopt(c, CURLOPT_READDATA, this);
  // The debug stream is the only place libcurl shows the server's reply text; the reason a
  // message was refused is worth more to an operator than "RCPT failed: 550".
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, &SmtpCallbacks::onDebug);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, this);
  long use_ssl = CURLUSESSL_TRY;
  if (opts_.tls == config::SmtpSettings::Tls::required) use_ssl = CURLUSESSL_ALL;
  if (opts_.tls == config::SmtpSettings::Tls::never) use_ssl = CURLUSESSL_NONE;
  curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl);
  if (!opts_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opts_.ca_file.c_str());
  if (!opts_.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, opts_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, opts_.password.c_str());
  }
  const std::string from = "<" + opts_.mail_from + ">";
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());  // libcurl copies option strings
}

SmtpOutcome SmtpClient::send(std::string_view rcpt, std::string_view message) {
  CURL* c = handle(curl_);
  const std::string to = "<" + std::string(rcpt) + ">";
  curl_slist* rcpts = curl_slist_append(nullptr, to.c_str());
  if (!rcpts) return {wire::Status::retry, "out of memory building the recipient list"};
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  body_ = message;
  body_pos_ = 0;
  last_command_.clear();
  refused_command_.clear();
  refusal_.clear();
  refusal_code_ = 0;
  data_sent_ = false;

  const CURLcode rc = curl_easy_perform(c);

  long connects = 0;
  if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
    connections_ += static_cast<std::uint64_t>(connects);
  }
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, nullptr);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(rcpts);
  body_ = {};
  if (rc == CURLE_OK) return {};
  // After a failure the session may be mid-transaction (libcurl keeps a connection after a
  // refused message, and the next MAIL FROM would be "nested"): start the next one afresh.
  open();

  SmtpOutcome out;
  out.status = classifySmtpFailure(refused_command_, refusal_code_);
  out.reason = opts_.url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
  if (refusal_code_ != 0) out.reason += " (server said: " + refusal_ + ")";
  if (out.reason.size() > kMaxReason) out.reason.resize(kMaxReason);
  return out;
}

}  // namespace reporthub::outputs::desksend
