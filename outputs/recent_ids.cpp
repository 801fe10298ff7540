// Recently delivered report ids; see recent_ids.h.
#include "outputs/recent_ids.h"

namespace reporthub::outputs {

void RecentIds::add(std::string_view id) {
  if (set_.emplace(id).second) order_.emplace_back(id);
}

void RecentIds::commit() {
  committed_ = order_.size();
  while (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
    --committed_;
  }
}

void RecentIds::rollback() {
  while (order_.size() > committed_) {
    set_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace reporthub::outputs
