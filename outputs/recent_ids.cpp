// Recently delivered report ids; see recent_ids.h.
#include "outputs/recent_ids.h"

#include <algorithm>
#include <functional>

namespace reporthub::outputs {

namespace {

constexpr std::uint64_t kSlotMask = 0xffff'ffffu;

std::uint32_t tagOfBucket(std::uint64_t b) {
  return static_cast<std::uint32_t>(b >> 32);
}

}  // namespace

std::uint32_t RecentIds::tagOf(std::string_view id) {
  const std::size_t h = std::hash<std::string_view>{}(id);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

std::size_t RecentIds::find(std::string_view id, std::uint32_t tag) const {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = tag & mask;; i = (i + 1) & mask) {
    const Bucket b = index_[i];
    if (b == 0) return i;
    if (tagOfBucket(b) == tag && ids_[(b & kSlotMask) - 1] == id) return i;
  }
}

void RecentIds::prefetch(std::string_view id) const {
  if (!index_.empty()) __builtin_prefetch(&index_[tagOf(id) & (index_.size() - 1)]);
}

bool RecentIds::contains(std::string_view id) const {
  return size_ > 0 && index_[find(id, tagOf(id))] != 0;
}

void RecentIds::insert(std::uint32_t tag, std::size_t slot) {
  const std::size_t mask = index_.size() - 1;
  std::size_t i = tag & mask;
  while (index_[i] != 0)
    i = (i + 1) & mask;
  index_[i] = (static_cast<std::uint64_t>(tag) << 32) | (slot + 1);
}

// Removes the slot's bucket and moves later buckets of the same probe run back into the
// hole, so every id stays reachable from its home bucket without tombstones.
void RecentIds::erase(std::size_t slot) {
  const std::size_t mask = index_.size() - 1;
  std::size_t hole = tags_[slot] & mask;
  while ((index_[hole] & kSlotMask) != slot + 1)
    hole = (hole + 1) & mask;
  for (std::size_t j = hole;;) {
    index_[hole] = 0;
    for (;;) {
      j = (j + 1) & mask;
      if (index_[j] == 0) return;
      const std::size_t home = tagOfBucket(index_[j]) & mask;
      // The bucket at j may move into the hole unless its home lies after the hole (on
      // the way round from hole to j).
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) break;
    }
    index_[hole] = index_[j];
    hole = j;
  }
}

void RecentIds::grow() {
  const std::size_t n = ids_.empty() ? 1024 : ids_.size() * 2;
  std::vector<std::string> ids(n);
  std::vector<std::uint32_t> tags(n);
  for (std::size_t i = 0; i < size_; ++i) {
    ids[i] = std::move(ids_[slotAt(i)]);
    tags[i] = tags_[slotAt(i)];
  }
  ids_ = std::move(ids);
  tags_ = std::move(tags);
  head_ = 0;
  index_.assign(2 * n, 0);
  for (std::size_t i = 0; i < size_; ++i)
    insert(tags_[i], i);
}

bool RecentIds::add(std::string_view id) {
  const std::uint32_t tag = tagOf(id);
  if (size_ > 0 && index_[find(id, tag)] != 0) return false;
  if (size_ == ids_.size()) grow();
  const std::size_t slot = slotAt(size_);
  ids_[slot].assign(id);
  tags_[slot] = tag;
  insert(tag, slot);
  ++size_;
  return true;
}

void RecentIds::commit() {
  committed_ = size_;
  // The bucket of each id about to leave starts loading a few ids before its turn (their
  // tags are kept).
  constexpr std::size_t kAhead = 16;
  const std::size_t mask = index_.size() - 1;
  const std::size_t leaving = size_ > capacity_ ? size_ - capacity_ : 0;
  for (std::size_t i = 0; i < std::min(leaving, kAhead); ++i)
    __builtin_prefetch(&index_[tags_[slotAt(i)] & mask]);
  while (size_ > capacity_) {
    if (size_ - capacity_ > kAhead) __builtin_prefetch(&index_[tags_[slotAt(kAhead)] & mask]);
    erase(head_);
    head_ = slotAt(1);
    --size_;
    --committed_;
  }
}

void RecentIds::rollback() {
  while (size_ > committed_) {
    erase(slotAt(size_ - 1));
    --size_;
  }
}

}  // namespace reporthub::outputs
