// RFC 6587 framing of one syslog TCP stream, without sockets: bytes go in, messages come out.
// Each frame's first byte picks its framing (a digit: octet counting "LEN SP MSG"; '<':
// a line ended by LF, CRLF or NUL), so one connection may mix both, as relays do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace reporthub::inputs::ds_receive {

// Why bytes were not handed on as a message.
enum class Refusal {
  oversized,  // a frame or line longer than max_message: skipped, the stream goes on
  garbage,    // bytes that start no frame: skipped to the next LF
  truncated,  // the stream ended inside an octet-counted frame
  unframable  // an octet count beyond any sane size: the stream cannot be resynchronised
};

std::string_view toString(Refusal r);

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Whether another message may be handed on now (the hub has granted credit). While not,
  // the framer keeps the rest in its buffer and the connection is not read.
  virtual bool accepting() = 0;
  // One message, without its framing and without trailing CR, LF or NUL bytes. The view is
  // valid during the call only.
  virtual void message(std::string_view msg) = 0;
  // Bytes skipped, with up to 32 of the first of them as a sample for the log.
  virtual void refused(Refusal why, std::string_view sample) = 0;
};

class Framer {
 public:
  // Messages longer than `max_message` bytes are skipped. An octet count above
  // hardBound(max_message) closes the stream.
  explicit Framer(std::uint32_t max_message);

  static std::uint64_t hardBound(std::uint32_t max_message);

  // Where the next read goes: free space at the end of the buffer. Empty only while a
  // complete message waits for the sink to accept it (drain() first).
  std::span<char> space();
  // `n` bytes were read into space().
  void filled(std::size_t n);

  enum class Status {
    need_more,  // everything complete was handed on; read more
    paused,     // the sink stopped accepting; complete messages wait in the buffer
    broken      // unframable: close the connection
  };
  Status drain(FrameSink& sink);
  // The peer closed: drains, then a last line without its LF is still a message and a
  // partial octet-counted frame is refused as truncated. Paused: call again with credit.
  Status finish(FrameSink& sink);

  // Copies `bytes` in, as many reads as it takes, draining after each (for tests and UDP-less
  // callers). Stops early if the stream breaks or the sink pauses with a full buffer.
  Status feed(std::string_view bytes, FrameSink& sink);

  std::size_t buffered() const { return end_ - begin_; }
  bool broken() const { return mode_ == Mode::broken; }

 private:
  enum class Mode { frame_start, skip_bytes, skip_line, broken };

  Status frameStart(FrameSink& sink, bool& progressed);
  bool skipLine();
  void skipBytes();
  std::string_view sample(std::size_t from) const;

  std::vector<char> buf_;
  std::size_t begin_ = 0;    // first unconsumed byte
  std::size_t end_ = 0;      // end of the bytes read
  std::size_t scanned_ = 0;  // of a line being read: bytes after begin_ known to hold no end
  Mode mode_ = Mode::frame_start;
  std::uint64_t skip_left_ = 0;
  std::uint32_t max_;
  std::uint64_t hard_bound_;
};

}  // namespace reporthub::inputs::ds_receive
