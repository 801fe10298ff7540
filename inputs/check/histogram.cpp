// Start-lateness histogram; see histogram.h.
#include "inputs/check/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace reporthub::inputs::check {

namespace {
constexpr std::uint64_t kSub = 1u << 4;
}

std::size_t Histogram::bucketOf(std::uint64_t v) {
  if (v < kSub) return v;  // exact below 16
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - kSubBits;
  return static_cast<std::size_t>(shift + 1) * kSub + ((v >> shift) & (kSub - 1));
}

std::uint64_t Histogram::upperOf(std::size_t bucket) {
  if (bucket < kSub) return bucket;
  const std::size_t shift = bucket / kSub - 1;
  const std::uint64_t lower = (kSub + bucket % kSub) << shift;
  return lower + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::add(Micros v) {
  const auto x = static_cast<std::uint64_t>(std::max<std::int64_t>(0, v.count()));
  ++buckets_[bucketOf(x)];
  ++count_;
  max_ = std::max(max_, x);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

Histogram::Micros Histogram::quantile(double q) const {
  if (count_ == 0) return Micros(0);
  const auto rank = std::max<std::uint64_t>(
      1,
      static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return Micros(static_cast<std::int64_t>(std::min(upperOf(i), max_)));
  }
  return Micros(static_cast<std::int64_t>(max_));
}

}  // namespace reporthub::inputs::check
