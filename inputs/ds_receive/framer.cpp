// RFC 6587 framing; see framer.h. The buffer holds at least one whole message of the
// largest size allowed, so a message is always handed on as one view into it, never copied.
#include "inputs/ds_receive/framer.h"

#include <algorithm>
#include <cstring>

namespace reporthub::inputs::ds_receive {

namespace {

// "LEN SP": 10 digits are far beyond any bound, so a longer run of digits cannot be a count.
constexpr std::size_t kMaxDigits = 10;
// Room for the count, its space and a line's CR and LF around the largest message.
constexpr std::size_t kFraming = kMaxDigits + 3;
// Reads of at least this size keep system calls per message low.
constexpr std::size_t kMinBuffer = 64 * 1024;
constexpr std::size_t kSample = 32;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// Frame trailers some senders add, and the empty lines between newline-framed messages.
bool isFiller(char c) {
  return c == '\n' || c == '\r' || c == '\0';
}

std::string_view trimEnd(std::string_view s) {
  while (!s.empty() && isFiller(s.back()))
    s.remove_suffix(1);
  return s;
}

// The first LF or NUL in [p, p + n), or nullptr.
const char* findEnd(const char* p, std::size_t n) {
  const char* lf = static_cast<const char*>(std::memchr(p, '\n', n));
  const std::size_t upto = lf ? static_cast<std::size_t>(lf - p) : n;
  const char* nul = static_cast<const char*>(std::memchr(p, '\0', upto));
  return nul ? nul : lf;
}

}  // namespace

std::string_view toString(Refusal r) {
  switch (r) {
    case Refusal::oversized:
      return "oversized";
    case Refusal::garbage:
      return "not syslog framing";
    case Refusal::truncated:
      return "truncated";
    case Refusal::unframable:
      return "unframable";
  }
  return "?";
}

std::uint64_t Framer::hardBound(std::uint32_t max_message) {
  // Skipping an oversized frame is cheap, so real senders' big messages (a stack trace) are
  // skipped and the connection lives; a count beyond this is a stream out of step.
  return std::max<std::uint64_t>(1 << 20, 4ull * max_message);
}

Framer::Framer(std::uint32_t max_message)
    : buf_(std::max(kMinBuffer, 2 * (static_cast<std::size_t>(max_message) + kFraming))),
      max_(max_message),
      hard_bound_(hardBound(max_message)) {}

std::span<char> Framer::space() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 && buf_.size() - end_ < max_ + kFraming) {
    // Too little room left for a whole message after the bytes still held: move them down.
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void Framer::filled(std::size_t n) {
  end_ += std::min(n, buf_.size() - end_);
}

std::string_view Framer::sample(std::size_t from) const {
  return {buf_.data() + from, std::min(kSample, end_ - from)};
}

bool Framer::skipLine() {
  const char* p = buf_.data() + begin_;
  const char* e = findEnd(p, end_ - begin_);
  if (!e) {
    begin_ = end_;
    return false;
  }
  begin_ += static_cast<std::size_t>(e - p) + 1;
  mode_ = Mode::frame_start;
  return true;
}

void Framer::skipBytes() {
  const std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(skip_left_, end_ - begin_));
  begin_ += n;
  skip_left_ -= n;
  if (skip_left_ == 0) mode_ = Mode::frame_start;
}

Framer::Status Framer::frameStart(FrameSink& sink, bool& progressed) {
  const char* d = buf_.data();
  while (begin_ < end_ && isFiller(d[begin_]))
    ++begin_;
  if (begin_ == end_) return Status::need_more;
  const char first = d[begin_];

  if (isDigit(first)) {
    std::uint64_t len = 0;
    std::size_t i = begin_;
    while (i < end_ && isDigit(d[i]) && i - begin_ < kMaxDigits)
      len = len * 10 + static_cast<std::uint64_t>(d[i++] - '0');
    if (i == end_) return Status::need_more;
    if (len > hard_bound_ || (isDigit(d[i]) && i - begin_ >= kMaxDigits)) {
      sink.refused(Refusal::unframable, sample(begin_));
      mode_ = Mode::broken;
      return Status::broken;
    }
    if (d[i] != ' ') {
      // Digits not followed by a space: not a count, and not a syslog line either.
      sink.refused(Refusal::garbage, sample(begin_));
      mode_ = Mode::skip_line;
      progressed = true;
      return Status::need_more;
    }
    const std::size_t body = i + 1;
    if (len > max_) {
      sink.refused(Refusal::oversized, sample(begin_));
      begin_ = body;
      skip_left_ = len;
      mode_ = Mode::skip_bytes;
      progressed = true;
      return Status::need_more;
    }
    if (end_ - body < len) return Status::need_more;
    if (!sink.accepting()) return Status::paused;
    begin_ = body + len;
    progressed = true;
    const std::string_view msg = trimEnd({d + body, len});
    if (msg.empty()) {
      sink.refused(Refusal::garbage, "(empty frame)");
    } else {
      sink.message(msg);
    }
    return Status::need_more;
  }

  if (first == '<') {
    // A line may be max_ bytes plus its CR; anything without its end within that is too long.
    const std::size_t window = std::min(end_ - begin_, static_cast<std::size_t>(max_) + 2);
    const char* e = findEnd(d + begin_ + scanned_, window - scanned_);
    if (!e) {
      if (window == static_cast<std::size_t>(max_) + 2) {
        sink.refused(Refusal::oversized, sample(begin_));
        begin_ += window;
        scanned_ = 0;
        mode_ = Mode::skip_line;
        progressed = true;
        return Status::need_more;
      }
      scanned_ = window;
      return Status::need_more;
    }
    const std::size_t stop = static_cast<std::size_t>(e - d);
    std::string_view line(d + begin_, stop - begin_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_) {
      sink.refused(Refusal::oversized, sample(begin_));
      begin_ = stop + 1;
      scanned_ = 0;
      progressed = true;
      return Status::need_more;
    }
    if (!sink.accepting()) return Status::paused;
    begin_ = stop + 1;
    scanned_ = 0;
    progressed = true;
    sink.message(line);
    return Status::need_more;
  }

  sink.refused(Refusal::garbage, sample(begin_));
  mode_ = Mode::skip_line;
  progressed = true;
  return Status::need_more;
}

Framer::Status Framer::drain(FrameSink& sink) {
  for (;;) {
    switch (mode_) {
      case Mode::broken:
        begin_ = end_;
        return Status::broken;
      case Mode::skip_bytes:
        skipBytes();
        if (mode_ == Mode::skip_bytes) return Status::need_more;
        break;
      case Mode::skip_line:
        if (!skipLine()) return Status::need_more;
        break;
      case Mode::frame_start: {
        bool progressed = false;
        const Status s = frameStart(sink, progressed);
        if (s != Status::need_more || !progressed) return s;
        break;
      }
    }
  }
}

Framer::Status Framer::finish(FrameSink& sink) {
  const Status s = drain(sink);
  if (s != Status::need_more || mode_ != Mode::frame_start) return s;
  while (begin_ < end_ && isFiller(buf_[begin_]))
    ++begin_;
  if (begin_ == end_) return Status::need_more;
  if (buf_[begin_] == '<') {
    // The final line of a sender that closes without a last LF; it fits (else drain skipped it).
    if (!sink.accepting()) return Status::paused;
    sink.message(trimEnd({buf_.data() + begin_, end_ - begin_}));
  } else {
    sink.refused(isDigit(buf_[begin_]) ? Refusal::truncated : Refusal::garbage, sample(begin_));
  }
  begin_ = end_ = 0;
  scanned_ = 0;
  return Status::need_more;
}

Framer::Status Framer::feed(std::string_view bytes, FrameSink& sink) {
  Status s = Status::need_more;
  while (!bytes.empty()) {
    const std::span<char> room = space();
    if (room.empty()) return Status::paused;
    const std::size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    filled(n);
    bytes.remove_prefix(n);
    s = drain(sink);
    if (s == Status::broken) return s;
  }
  return s;
}

}  // namespace reporthub::inputs::ds_receive
