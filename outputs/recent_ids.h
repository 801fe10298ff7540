// The ids of the reports an output delivered most recently, for suppressing redeliveries
// (delivery is at least once; the operator should see each report once). Ids of a batch
// count as delivered only once the batch is durable: a failed flush takes them back, so a
// retry is not mistaken for a duplicate.
//
// Every delivery asks and adds once, so this is on the hot path of every output. The ids
// sit in a ring of strings whose buffers are reused (no allocation once it is full) and are
// found through an open-addressing index of 32-bit hash tags and slot numbers, so a lookup
// touches one or two cache lines instead of a chain of nodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub::outputs {

class RecentIds {
 public:
  // Redeliveries come from the unacknowledged tail of the hub's journal, far smaller than
  // this; the bound keeps memory flat on a long run.
  explicit RecentIds(std::size_t capacity = 200'000) : capacity_(capacity) {}

  bool contains(std::string_view id) const;
  // Starts loading the index bucket where `id` is looked up: the ids of a batch prefetched
  // before they are added wait for memory together, not one after another.
  void prefetch(std::string_view id) const;
  // Records an id of the current batch; false if it was here already (and is not added
  // again). One lookup for both questions.
  bool add(std::string_view id);
  // The current batch is durable.
  void commit();
  // The current batch was lost: forget its ids.
  void rollback();
  std::size_t size() const { return size_; }
  // Calls f(id) for every committed id, oldest first: for writing them out elsewhere.
  template <class F>
  void forEachCommitted(F&& f) const {
    for (std::size_t i = 0; i < committed_; ++i)
      f(std::string_view(ids_[slotAt(i)]));
  }

 private:
  // An index bucket: the id's hash tag in the high half, its slot + 1 in the low half;
  // 0 is an empty bucket.
  using Bucket = std::uint64_t;

  static std::uint32_t tagOf(std::string_view id);
  std::size_t slotAt(std::size_t i) const { return (head_ + i) & (ids_.size() - 1); }
  // The bucket holding `id`, or the empty bucket where it would go.
  std::size_t find(std::string_view id, std::uint32_t tag) const;
  void insert(std::uint32_t tag, std::size_t slot);
  void erase(std::size_t slot);
  void grow();

  std::size_t capacity_;
  std::vector<std::string> ids_;     // a ring, size a power of two; strings keep capacity
  std::vector<std::uint32_t> tags_;  // the tag of each slot
  std::size_t head_ = 0;             // the oldest id's slot
  std::size_t size_ = 0;
  std::size_t committed_ = 0;  // the oldest committed_ ids are durable
  std::vector<Bucket> index_;  // linear probing, at most half full
};

}  // namespace reporthub::outputs
