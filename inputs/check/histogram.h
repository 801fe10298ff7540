// Start lateness of check runs (how long after its due time a run started), kept as a
// log-linear histogram: constant memory however long the process runs, quantiles within
// 1/16 (about 6%) of the true value, the maximum exact.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace reporthub::inputs::check {

class Histogram {
 public:
  using Micros = std::chrono::microseconds;

  void add(Micros v);
  void merge(const Histogram& other);
  void clear() { *this = Histogram{}; }
  std::uint64_t count() const { return count_; }
  Micros max() const { return Micros(max_); }
  // The q-quantile (0..1): the upper end of the bucket holding it, never above max().
  // 0 if empty.
  Micros quantile(double q) const;

  // Bucket layout, exposed for the tests.
  static std::size_t bucketOf(std::uint64_t v);
  static std::uint64_t upperOf(std::size_t bucket);

 private:
  static constexpr int kSubBits = 4;  // 16 buckets per power of two
  std::array<std::uint64_t, 64 << kSubBits> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace reporthub::inputs::check
