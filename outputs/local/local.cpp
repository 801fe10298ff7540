// The operator console output; see local.h.
#include "outputs/local/local.h"

#include "common/zmq_util.h"
#include "config/config.h"
#include "outputs/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace reporthub::outputs::local {

namespace {

std::string isoTime(std::int64_t ts_ns) {
  const std::time_t secs = static_cast<std::time_t>(ts_ns / 1'000'000'000);
  const int millis = static_cast<int>((ts_ns / 1'000'000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", millis < 0 ? 0 : millis);
  return buf;
}

// Operators read one line per report: control characters would break that.
void appendSanitized(std::string& out, std::string_view s) {
  for (char c : s)
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
}

class LocalOutput final : public Output {
 public:
  LocalOutput(const config::LocalOutput& cfg, const std::string& console_endpoint,
              zmq::context_t& ctx)
      : cfg_(cfg), console_(ctx, zmq::socket_type::pub) {
    open();
    // Live viewers may be slow or absent; a PUB socket drops for them, never blocks us.
    zmqu::configure(console_, 10'000, std::chrono::milliseconds(0));
    console_.bind(console_endpoint);
  }
  ~LocalOutput() override {
    if (fd_ >= 0) close(fd_);
  }

  wire::Status deliver(const Report& r, const wire::Deliver&, std::string&) override {
    const std::size_t start = buffer_.size();
    buffer_ += cfg_.format == config::LogFormat::json ? formatJson(r) : formatText(r);
    console_.send(zmq::buffer(buffer_.data() + start, buffer_.size() - start),
                  zmq::send_flags::dontwait);
    buffer_.push_back('\n');
    return wire::Status::ok;
  }

  wire::Status flush(std::string& reason) override {
    std::size_t off = 0;
    while (off < buffer_.size()) {
      const ssize_t n = write(fd_, buffer_.data() + off, buffer_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        reason = "write " + cfg_.file.string() + ": " + strerror(errno);
        if (!error_logged_) spdlog::error("{}; the hub will retry these reports", reason);
        error_logged_ = true;
        buffer_.clear();  // the hub resends all of them
        return wire::Status::retry;
      }
      off += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    error_logged_ = false;
    return wire::Status::ok;
  }

  void reopen() override {
    if (fd_ >= 0) close(fd_);
    open();
    spdlog::info("reopened {}", cfg_.file.string());
  }

 private:
  void open() {
    fd_ = ::open(cfg_.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      throw std::runtime_error("open " + cfg_.file.string() + ": " + strerror(errno));
    }
  }

  const config::LocalOutput& cfg_;
  zmq::socket_t console_;
  int fd_ = -1;
  std::string buffer_;
  bool error_logged_ = false;
};

}  // namespace

std::string formatText(const Report& r) {
  std::string line = isoTime(r.ts_ns);
  line += ' ';
  line += r.origin;
  line += ' ';
  line += r.category;
  line += ' ';
  line += toString(r.severity);
  line += ' ';
  appendSanitized(line, r.text);
  if (!r.attrs.empty()) {
    line += " {";
    bool first = true;
    for (const auto& [k, v] : r.attrs) {
      if (!first) line += ", ";
      first = false;
      appendSanitized(line, k);
      line += '=';
      appendSanitized(line, v);
    }
    line += '}';
  }
  return line;
}

std::string formatJson(const Report& r) {
  nlohmann::json j = {{"ts", isoTime(r.ts_ns)},
                      {"ts_ns", r.ts_ns},
                      {"id", r.id},
                      {"origin", r.origin},
                      {"source", r.source},
                      {"category", r.category},
                      {"severity", toString(r.severity)},
                      {"text", r.text},
                      {"attrs", r.attrs},
                      {"via", r.via}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int main(ChildContext& ctx) {
  LocalOutput output(ctx.config.outputs.local, ctx.config.consoleEndpoint(), ctx.zmq);
  return runOutput(ctx, output);
}

}  // namespace reporthub::outputs::local
