// The ids of the reports an output delivered most recently, for suppressing redeliveries
// (delivery is at least once; the operator should see each report once). Ids of a batch
// count as delivered only once the batch is durable: a failed flush takes them back, so a
// retry is not mistaken for a duplicate.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

namespace reporthub::outputs {

class RecentIds {
 public:
  // Redeliveries come from the unacknowledged tail of the hub's journal, far smaller than
  // this; the bound keeps memory flat on a long run.
  explicit RecentIds(std::size_t capacity = 200'000) : capacity_(capacity) {}

  bool contains(std::string_view id) const { return set_.find(id) != set_.end(); }
  // Records an id of the current batch.
  void add(std::string_view id);
  // The current batch is durable.
  void commit();
  // The current batch was lost: forget its ids.
  void rollback();
  std::size_t size() const { return order_.size(); }
  // Calls f(id) for every committed id, oldest first: for writing them out elsewhere.
  template <class F>
  void forEachCommitted(F&& f) const {
    for (std::size_t i = 0; i < committed_; ++i)
      f(std::string_view(order_[i]));
  }

 private:
  std::size_t capacity_;
  // Transparent hashing: a lookup by string_view allocates nothing (one per report).
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> set_;
  std::deque<std::string> order_;  // oldest first
  std::size_t committed_ = 0;      // order_[0, committed_) are durable
};

}  // namespace reporthub::outputs
