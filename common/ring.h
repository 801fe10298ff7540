// A double-ended queue in one array that doubles when full: pushes and pops without an
// allocation per element, where std::deque allocates a node every 512 bytes. For the
// queues on the hot path (the journal's cache, the deliveries in flight).
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace reporthub {

template <class T>
class Ring {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  T& operator[](std::size_t i) { return items_[(head_ + i) & (items_.size() - 1)]; }
  const T& operator[](std::size_t i) const { return items_[(head_ + i) & (items_.size() - 1)]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == items_.size()) grow();
    T& slot = (*this)[size_++];
    slot = T{std::forward<Args>(args)...};
    return slot;
  }
  void push_back(T v) { emplace_back(std::move(v)); }

  // A popped element is reset at once: what it owns is released now, not when its slot is
  // next used.
  void pop_front() {
    front() = T{};
    head_ = (head_ + 1) & (items_.size() - 1);
    --size_;
  }
  void pop_back() {
    back() = T{};
    --size_;
  }
  void clear() {
    while (!empty())
      pop_back();
  }

 private:
  void grow() {
    std::vector<T> bigger(std::max<std::size_t>(16, items_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = std::move((*this)[i]);
    items_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> items_;  // size a power of two, or empty
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace reporthub
