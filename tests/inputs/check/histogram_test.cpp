// Tests for inputs/check/histogram.cpp: bucket layout and quantiles of start lateness.
#include "inputs/check/histogram.h"

#include <catch2/catch.hpp>

#include <random>

using namespace reporthub::inputs::check;
using Micros = Histogram::Micros;

TEST_CASE("histogram buckets: exact below 16, within 1/16 above", "[check]") {
  for (std::uint64_t v = 0; v < 16; ++v) {
    CHECK(Histogram::upperOf(Histogram::bucketOf(v)) == v);
  }
  std::uint64_t last = 0;
  for (std::uint64_t v :
       {16ull, 17ull, 31ull, 32ull, 33ull, 1000ull, 123456ull, 1ull << 40, ~0ull}) {
    const auto b = Histogram::bucketOf(v);
    const auto up = Histogram::upperOf(b);
    INFO(v);
    CHECK(up >= v);
    CHECK(static_cast<double>(up - v) <= static_cast<double>(v) / 16.0);
    CHECK(b >= last);
    last = b;
  }
  CHECK(Histogram::bucketOf(~0ull) < 64 * 16);
}

TEST_CASE("histogram quantiles and merge", "[check]") {
  Histogram h;
  CHECK(h.quantile(0.5) == Micros(0));
  // 1..1000 us: p50 near 500, p99 near 990, max exact.
  std::vector<int> values(1000);
  for (int i = 0; i < 1000; ++i)
    values[static_cast<std::size_t>(i)] = i + 1;
  std::shuffle(values.begin(), values.end(), std::mt19937(7));
  for (int v : values)
    h.add(Micros(v));
  CHECK(h.count() == 1000);
  CHECK(h.max() == Micros(1000));
  CHECK(h.quantile(0.5).count() >= 500);
  CHECK(h.quantile(0.5).count() <= 500 + 500 / 16);
  CHECK(h.quantile(0.99).count() >= 990);
  CHECK(h.quantile(0.99).count() <= 1000);
  CHECK(h.quantile(1.0) == Micros(1000));

  Histogram other;
  other.add(Micros(-5));  // a start before its due time counts as on time
  other.add(Micros(5'000'000));
  h.merge(other);
  CHECK(h.count() == 1002);
  CHECK(h.max() == Micros(5'000'000));
  CHECK(h.quantile(0.0001) == Micros(0));
  h.clear();
  CHECK(h.count() == 0);
}
