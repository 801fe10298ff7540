// Bounded msgpack decoding shared by the report codec, the wire envelope and the journal's
// routes: every decode states its limits and must consume its input exactly, so a 5-byte
// frame can never ask for gigabytes, nest without end, or smuggle trailing bytes.
// (msgpack-c packs; it is the encoder on every path.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace reporthub::mp {

// A cursor that reads a value of known shape straight from its bytes, without building an
// object tree: the hot paths (a report per delivery) decode this way. Every read checks the
// type and the bytes left; a failed read leaves the cursor where it was, and truncated()
// tells running out of bytes from a wrong type. Integers read as msgpack-c reads them: any
// integer encoding whose value fits.
class Reader {
 public:
  explicit Reader(std::string_view bytes)
      : at_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(at_ + bytes.size()) {}

  bool done() const { return at_ == end_; }
  bool truncated() const { return truncated_; }

  // The element count of an array (map: pairs) of at most `max`.
  bool array(std::uint32_t& n, std::uint32_t max) { return container(0x90, 0xdc, n, max); }
  bool map(std::uint32_t& n, std::uint32_t max) { return container(0x80, 0xde, n, max); }

  bool str(std::string_view& out, std::size_t max_len) {
    if (!have(1)) return false;
    const unsigned char t = *at_;
    std::size_t head = 1, len = 0;
    if ((t & 0xe0) == 0xa0) {
      len = t & 0x1f;
    } else if (t >= 0xd9 && t <= 0xdb) {
      head = 1 + (std::size_t{1} << (t - 0xd9));
      if (!have(head)) return false;
      len = static_cast<std::size_t>(be(at_ + 1, head - 1));
    } else {
      return false;
    }
    if (len > max_len || !have(head + len)) return false;
    out = std::string_view(reinterpret_cast<const char*>(at_ + head), len);
    at_ += head + len;
    return true;
  }

  bool boolean(bool& out) {
    if (!have(1)) return false;
    if (*at_ != 0xc2 && *at_ != 0xc3) return false;
    out = *at_++ == 0xc3;
    return true;
  }

  bool u64(std::uint64_t& out) {
    std::int64_t neg = 0;
    if (!integer(out, neg)) return false;
    if (neg < 0) return unread();
    return true;
  }

  bool i64(std::int64_t& out) {
    std::uint64_t pos = 0;
    std::int64_t neg = 0;
    if (!integer(pos, neg)) return false;
    if (neg < 0) {
      out = neg;
    } else if (pos > static_cast<std::uint64_t>(INT64_MAX)) {
      return unread();
    } else {
      out = static_cast<std::int64_t>(pos);
    }
    return true;
  }

 private:
  bool have(std::size_t n) {
    if (static_cast<std::size_t>(end_ - at_) >= n) return true;
    truncated_ = true;
    return false;
  }

  static std::uint64_t be(const unsigned char* p, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = v << 8 | p[i];
    return v;
  }

  bool container(unsigned char fix, unsigned char wide16, std::uint32_t& n, std::uint32_t max) {
    if (!have(1)) return false;
    const unsigned char t = *at_;
    std::size_t head = 1;
    if ((t & 0xf0) == fix) {
      n = t & 0x0f;
    } else if (t == wide16 || t == wide16 + 1) {
      head = t == wide16 ? 3 : 5;
      if (!have(head)) return false;
      n = static_cast<std::uint32_t>(be(at_ + 1, head - 1));
    } else {
      return false;
    }
    if (n > max) return false;
    at_ += head;
    last_ = head;
    return true;
  }

  // A non-negative value in `pos` (neg stays 0), or a negative one in `neg`.
  bool integer(std::uint64_t& pos, std::int64_t& neg) {
    if (!have(1)) return false;
    const unsigned char t = *at_;
    std::size_t head = 1;
    if (t <= 0x7f) {
      pos = t;
    } else if (t >= 0xe0) {
      neg = static_cast<std::int8_t>(t);
    } else if (t >= 0xcc && t <= 0xd3) {
      const std::size_t n = std::size_t{1} << ((t - 0xcc) & 3);
      head = 1 + n;
      if (!have(head)) return false;
      const std::uint64_t v = be(at_ + 1, n);
      if (t <= 0xcf) {
        pos = v;
      } else {
        // Sign-extend an n-byte two's complement value.
        const unsigned shift = static_cast<unsigned>(64 - 8 * n);
        const auto s = static_cast<std::int64_t>(v << shift) >> shift;
        if (s < 0) {
          neg = s;
        } else {
          pos = static_cast<std::uint64_t>(s);
        }
      }
    } else {
      return false;
    }
    at_ += head;
    last_ = head;
    return true;
  }

  bool unread() {
    at_ -= last_;
    return false;
  }

  const unsigned char* at_;
  const unsigned char* end_;
  std::size_t last_ = 0;  // bytes of the last integer or container header read
  bool truncated_ = false;
};

}  // namespace reporthub::mp
