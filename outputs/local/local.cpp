// The operator console output; see local.h.
#include "outputs/local/local.h"

#include "common/file_io.h"
#include "common/zmq_util.h"
#include "config/config.h"
#include "outputs/output.h"
#include "outputs/recent_ids.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace reporthub::outputs::local {

namespace {

// The time as 2026-11-22T08:00:00.123Z, in a per-thread buffer the next call reuses.
std::string_view isoTime(std::int64_t ts_ns) {
  // Reports arrive in bursts within the same second: format each second once.
  thread_local std::time_t cached_secs = -1;
  thread_local char text[48];
  thread_local std::size_t secs_len = 0;
  const std::time_t secs = static_cast<std::time_t>(ts_ns / 1'000'000'000);
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    secs_len = std::strftime(text, sizeof text - 5, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  const int millis = static_cast<int>((ts_ns / 1'000'000) % 1000);
  const int ms = millis < 0 ? 0 : millis;
  char* frac = text + secs_len;
  frac[0] = '.';
  frac[1] = static_cast<char>('0' + ms / 100);
  frac[2] = static_cast<char>('0' + ms / 10 % 10);
  frac[3] = static_cast<char>('0' + ms % 10);
  frac[4] = 'Z';
  return std::string_view(text, secs_len + 5);
}

// Whether any of the 8 bytes in `w` is below 0x20 or is 0x7f (DEL). Bit tricks for bytes
// in a word: `w - 0x20` sets a byte's top bit where it borrowed (a byte below 0x20), `~w`
// excludes bytes that had the top bit already; a byte equal to 0x7f is zero after the xor.
bool hasControl(std::uint64_t w) {
  constexpr std::uint64_t k01 = 0x0101010101010101, k80 = 0x8080808080808080;
  const std::uint64_t below = (w - 0x20 * k01) & ~w & k80;
  const std::uint64_t x = w ^ (0x7f * k01);
  const std::uint64_t del = (x - k01) & ~x & k80;
  return (below | del) != 0;
}

// Operators read one line per report: control characters would break that. Each one in
// out[from, to) becomes a space, in place; words of 8 bytes without one are passed over
// whole.
void sanitize(std::string& out, std::size_t from, std::size_t to) {
  auto control = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
  char* p = out.data() + from;
  char* const end = out.data() + to;
  for (std::uint64_t w; p + 8 <= end; p += 8) {
    std::memcpy(&w, p, 8);
    if (!hasControl(w)) continue;
    for (char* c = p; c < p + 8; ++c)
      if (control(*c)) *c = ' ';
  }
  for (; p < end; ++p)
    if (control(*p)) *p = ' ';
}

class LocalOutput final : public Output {
 public:
  LocalOutput(const config::LocalOutput& cfg, const std::string& console_endpoint,
              zmq::context_t& ctx)
      : cfg_(cfg), console_(ctx, zmq::socket_type::xpub) {
    open();
    loadRecentIds();
    // Live viewers may be slow or absent; a PUB socket drops for them, never blocks us.
    zmqu::configure(console_, 10'000, std::chrono::milliseconds(0));
    console_.bind(console_endpoint);
  }
  ~LocalOutput() override {
    if (fd_ >= 0) close(fd_);
  }

  // The ids are looked up in a table of megabytes: each lookup's load starts a few
  // deliveries early. (Loads started for a whole batch at once were evicted again, by the
  // batch's own lines and the processes sharing the core, before their turn came.)
  void expect(const wire::Deliver& d) override { recent_.prefetch(d.id); }

  // Asks and records in one lookup: deliver() follows every report not seen.
  bool seen(std::string_view id) override { return !recent_.add(id); }

  wire::Status deliver(const Report& r, const wire::Deliver& d, std::string& reason) override {
    return deliverView(viewOf(r), d, reason);
  }

  // Text lines are formatted straight from the report's bytes.
  wire::Status deliverView(const ReportView& r, const wire::Deliver&, std::string&) override {
    if (buffer_.empty()) watchViewers();  // once per batch: a new viewer sees the next line
    const std::size_t start = buffer_.size();
    if (cfg_.format == config::LogFormat::json) {
      assign(json_copy_, r);
      buffer_ += formatJson(json_copy_);
    } else {
      appendText(buffer_, r);
    }
    if (viewers_) {
      console_.send(zmq::buffer(buffer_.data() + start, buffer_.size() - start),
                    zmq::send_flags::dontwait);
    }
    buffer_.push_back('\n');
    return wire::Status::ok;
  }

  wire::Status flush(std::string& reason) override {
    std::string_view rest = buffer_;
    while (!rest.empty()) {
      std::string_view now = rest;
      bool rotate_after = false;
      // With built-in rotation, a file gets whole lines up to its limit; a line longer than
      // the limit still goes whole into a fresh file.
      if (cfg_.rotate_size > 0 && size_ + rest.size() > cfg_.rotate_size && rotationDue()) {
        const std::size_t room = cfg_.rotate_size > size_ ? cfg_.rotate_size - size_ : 0;
        const std::size_t cut = rest.substr(0, room).rfind('\n');
        if (cut != std::string_view::npos) {
          now = rest.substr(0, cut + 1);
          rotate_after = true;
        } else if (size_ > 0 && rotate()) {
          continue;
        }
      }
      if (writeAll(fd_, now) < now.size()) {
        reason = "write " + cfg_.file.string() + ": " + strerror(errno);
        if (!error_logged_) spdlog::error("{}; the hub will retry these reports", reason);
        error_logged_ = true;
        buffer_.clear();  // the hub resends all of them
        recent_.rollback();
        return wire::Status::retry;
      }
      size_ += now.size();
      rest.remove_prefix(now.size());
      if (rotate_after) rotate();
    }
    buffer_.clear();
    recent_.commit();
    error_logged_ = false;
    return wire::Status::ok;
  }

  // logrotate renamed the file (or copied and truncated it): continue in a file by the
  // configured name. If it cannot be opened, writing goes on where it went.
  void reopen() override {
    if (reopenFile()) spdlog::info("reopened {}", cfg_.file.string());
  }

 private:
  // The ids already in the operator log, from its tail: after a crash of this process or
  // the hub, the unacknowledged deliveries come again and must not be written twice.
  // Right after a rotation the current file is short: the rest comes from the end of the
  // previous one (operator.log.1, whether we or logrotate renamed it).
  void loadRecentIds() {
    constexpr off_t kTail = 16 << 20;
    const off_t size = lseek(fd_, 0, SEEK_END);
    std::size_t found = 0;
    if (size < kTail) found += rememberIdsFrom(rotatedName(1), kTail - std::max<off_t>(size, 0));
    found += rememberIdsFrom(fd_, kTail);
    recent_.commit();
    spdlog::info("{} report ids from the end of {} remembered for duplicate suppression", found,
                 cfg_.file.string());
  }

  std::size_t rememberIdsFrom(const std::filesystem::path& file, off_t tail_bytes) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    const std::size_t found = rememberIdsFrom(fd, tail_bytes);
    close(fd);
    return found;
  }

  std::size_t rememberIdsFrom(int fd, off_t tail_bytes) {
    const off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0) return 0;
    const off_t from = size > tail_bytes ? size - tail_bytes : 0;
    std::string tail;
    if (!readFrom(fd, from, tail)) return 0;
    std::size_t found = 0;
    for (std::size_t pos = 0; pos < tail.size();) {
      std::size_t end = tail.find('\n', pos);
      if (end == std::string::npos) break;  // a partial last line: not delivered
      if (auto id = idOfLine(std::string_view(tail).substr(pos, end - pos)); !id.empty()) {
        recent_.add(id);
        ++found;
      }
      pos = end + 1;
    }
    return found;
  }

  std::filesystem::path rotatedName(int n) const {
    return cfg_.file.string() + "." + std::to_string(n);
  }

  // Built-in rotation by size: operator.log.N-1 -> .N, ..., operator.log -> .1, and a new
  // operator.log. The oldest beyond `keep` is overwritten by the rename.
  // A rotation that failed is tried again a minute later, not on every line: meanwhile the
  // log grows past its limit rather than stalling delivery.
  bool rotate() {
    for (int i = cfg_.rotate_keep - 1; i >= 1; --i) {
      std::rename(rotatedName(i).c_str(), rotatedName(i + 1).c_str());  // may not exist yet
    }
    if (std::rename(cfg_.file.c_str(), rotatedName(1).c_str()) != 0) {
      spdlog::warn("cannot rotate {} to {}: {}; writing on in the same file, next try in 1m",
                   cfg_.file.string(), rotatedName(1).string(), strerror(errno));
      rotate_retry_at_ = std::chrono::steady_clock::now() + std::chrono::minutes(1);
      return false;
    }
    if (!reopenFile()) {
      rotate_retry_at_ = std::chrono::steady_clock::now() + std::chrono::minutes(1);
      return false;
    }
    spdlog::info("rotated {} at {} bytes (keeping {})", cfg_.file.string(), cfg_.rotate_size,
                 cfg_.rotate_keep);
    return true;
  }

  bool rotationDue() const { return std::chrono::steady_clock::now() >= rotate_retry_at_; }

  bool reopenFile() {
    const int old = fd_;
    const std::uint64_t old_size = size_;
    try {
      open();
    } catch (const std::exception& e) {
      fd_ = old;
      size_ = old_size;
      spdlog::warn("{}; still writing to the file open before", e.what());
      return false;
    }
    if (old >= 0) close(old);
    return true;
  }

  // An XPUB passes on the first subscription and the last unsubscription of a topic, so
  // with everyone subscribing to all it says exactly whether anyone is watching: nobody
  // watching, no line is published (a send per report was a tenth of this output's CPU).
  void watchViewers() {
    zmq::message_t msg;
    while (console_.recv(msg, zmq::recv_flags::dontwait)) {
      if (msg.size() >= 1) viewers_ = static_cast<const char*>(msg.data())[0] == 1;
    }
  }

  void open() {
    // Read and write: the tail is read back at start for duplicate suppression.
    fd_ = ::open(cfg_.file.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      throw std::runtime_error("open " + cfg_.file.string() + ": " + strerror(errno));
    }
    const off_t end = lseek(fd_, 0, SEEK_END);
    size_ = end > 0 ? static_cast<std::uint64_t>(end) : 0;
  }

  const config::LocalOutput& cfg_;
  zmq::socket_t console_;
  int fd_ = -1;
  std::uint64_t size_ = 0;                                   // of the open file, for rotation
  std::chrono::steady_clock::time_point rotate_retry_at_{};  // after a failed rotation
  std::string buffer_;
  Report json_copy_;  // JSON lines are formatted from a Report
  bool error_logged_ = false;
  RecentIds recent_;
  bool viewers_ = false;
};

}  // namespace

std::string formatText(const Report& r) {
  std::string line;
  appendText(line, r);
  return line;
}

void appendText(std::string& line, const Report& r) {
  appendText(line, viewOf(r));
}

void appendText(std::string& line, const ReportView& r) {
  // The line's length first, then one resize and plain copies: a line has a dozen pieces,
  // and appending each in turn was a sixth of this output's CPU.
  const std::string_view time = isoTime(r.ts_ns);
  const std::string_view severity = toString(r.severity);
  std::size_t n = time.size() + r.origin.size() + r.category.size() + severity.size() +
                  r.text.size() + r.id.size() + 4 + 3;
  if (!r.attrs.empty()) {
    n += 3 + 2 * (r.attrs.size() - 1);  // " {", "}" and ", " between
    for (const auto& [k, v] : r.attrs)
      n += k.size() + 1 + v.size();
  }
  if (!r.via.empty()) {
    n += 7 + 3 * (r.via.size() - 1);  // " (via ", ")" and " > " between
    for (const auto via : r.via)
      n += via.size();
  }
  const std::size_t start = line.size();
  line.resize(start + n);
  char* p = line.data() + start;
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  auto putc = [&p](char c) { *p++ = c; };
  put(time);
  putc(' ');
  put(r.origin);
  putc(' ');
  put(r.category);
  putc(' ');
  put(severity);
  putc(' ');
  // Everything from the text on comes from the reporter and may hold control characters;
  // what is before it is formatted here or a validated name.
  const std::size_t free_text = static_cast<std::size_t>(p - line.data());
  put(r.text);
  if (!r.attrs.empty()) {
    put(" {");
    bool first = true;
    for (const auto& [k, v] : r.attrs) {
      if (!first) put(", ");
      first = false;
      put(k);
      putc('=');
      put(v);
    }
    putc('}');
  }
  // A report from another node shows the way it came.
  if (!r.via.empty()) {
    put(" (via ");
    for (std::size_t i = 0; i < r.via.size(); ++i) {
      if (i > 0) put(" > ");
      put(r.via[i]);
    }
    putc(')');
  }
  const std::size_t id_at = static_cast<std::size_t>(p - line.data());
  put(" [");
  put(r.id);
  putc(']');
  sanitize(line, free_text, id_at);
}

std::string idOfLine(std::string_view line) {
  if (line.starts_with('{')) {
    // JSON lines: parsed, because an attribute may be called "id" too.
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return {};
    const auto id = j.value("id", std::string());
    return validReportId(id) ? id : std::string();
  }
  // Text lines end with " [<id>]"; an id holds no brackets or spaces.
  if (!line.ends_with(']')) return {};
  const auto open = line.rfind(" [");
  if (open == std::string_view::npos) return {};
  const auto id = line.substr(open + 2, line.size() - open - 3);
  return validReportId(id) ? std::string(id) : std::string();
}

std::string formatJson(const Report& r) {
  nlohmann::json j = {{"ts", std::string(isoTime(r.ts_ns))},
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
  // Writing a line costs under a microsecond: a window of 1024 let the hub's answer-and-refill
  // round trip starve it. A large window keeps deliveries waiting for it at full rate.
  return runOutput(ctx, output, 16384);
}

}  // namespace reporthub::outputs::local
