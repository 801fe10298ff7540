// CRC-32C against the standard check value, and the hardware path against the table.
#include "common/crc32c.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using reporthub::crc32c;

TEST_CASE("crc32c matches the standard check value", "[crc32c]") {
  CHECK(crc32c(0, "123456789") == 0xe3069283u);
  CHECK(crc32c(0, "") == 0u);
  CHECK(crc32c(0, std::string(32, '\0')) == 0x8a9136aau);  // RFC 3720 B.4
}

TEST_CASE("crc32c can be computed in pieces", "[crc32c]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string data(rng() % 700, '\0');
    for (auto& c : data)
      c = static_cast<char>(rng());
    const std::size_t cut = data.empty() ? 0 : rng() % data.size();
    const std::string_view v(data);
    CHECK(crc32c(crc32c(0, v.substr(0, cut)), v.substr(cut)) == crc32c(0, v));
  }
}

// Long inputs run in three interleaved lanes whose results are combined: every length
// around the lane sizes (3 x 32 and 3 x 64 bytes), from every alignment, against the
// plain bitwise definition.
TEST_CASE("crc32c of every length and alignment matches the bitwise definition", "[crc32c]") {
  auto bitwise = [](std::string_view s) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char b : s) {
      c ^= b;
      for (int k = 0; k < 8; ++k)
        c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
  };
  std::mt19937 rng(11);
  std::string data(1200, '\0');
  for (auto& c : data)
    c = static_cast<char>(rng());
  for (std::size_t len = 0; len <= 1000; ++len) {
    const std::size_t at = len % 8;
    const std::string_view v = std::string_view(data).substr(at, len);
    INFO("length " << len << " at offset " << at);
    REQUIRE(crc32c(0, v) == bitwise(v));
  }
}
