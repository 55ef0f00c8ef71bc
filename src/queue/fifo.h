// Fifo: a first-in first-out queue on one vector and a read position. Unlike std::deque (whose
// libstdc++ form allocates over 500 bytes even when empty) an empty Fifo holds no memory, and
// a queued element costs its own size: ready queues exist per destination, and there may be
// 100,000 of them (issue deliver-2).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace txmail::queue {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }

  std::size_t size() const { return items_.size() - head_; }

  void push_back(T value) { items_.push_back(std::move(value)); }

  T& front() { return items_[head_]; }

  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {  // drained: give the memory back
      std::vector<T>().swap(items_);
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {  // half read: compact
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  template <typename F>
  void for_each(F f) const {  // reads every element in order
    for (std::size_t i = head_; i < items_.size(); ++i) {
      f(items_[i]);
    }
  }

  template <typename F>
  void drain(F f) {  // takes every element in order, leaving the queue empty
    std::vector<T> items;
    items.swap(items_);
    const std::size_t head = std::exchange(head_, 0);
    for (std::size_t i = head; i < items.size(); ++i) {
      f(std::move(items[i]));
    }
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace txmail::queue
