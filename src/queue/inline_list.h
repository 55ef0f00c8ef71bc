// InlineList: a list whose first element lives inside the list object and the rest in one heap
// array. Most jobs have one recipient and most units one index: then there is no allocation
// at all. The heap part's capacity is the power of two at or above its size, so no capacity
// field is kept (the list is 16 bytes plus one T).
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <utility>

namespace txmail::queue {

template <typename T>
class InlineList {
 public:
  InlineList() = default;

  // `n` default-constructed elements.
  explicit InlineList(std::uint32_t n) : size_(n) {
    if (n > 1) {
      rest_ = std::make_unique<T[]>(std::bit_ceil(n - 1));
    }
  }

  std::uint32_t size() const { return size_; }

  bool empty() const { return size_ == 0; }

  T& operator[](std::size_t i) { return i == 0 ? first_ : rest_[i - 1]; }

  const T& operator[](std::size_t i) const { return i == 0 ? first_ : rest_[i - 1]; }

  T& front() { return first_; }

  const T& front() const { return first_; }

  void push_back(T value) {
    if (size_ == 0) {
      first_ = std::move(value);
      size_ = 1;
      return;
    }
    const std::uint32_t k = size_ - 1;       // its index in rest_
    if (k == 0 || std::has_single_bit(k)) {  // rest_ is full (or absent): double it
      auto bigger = std::make_unique<T[]>(k == 0 ? 1 : 2 * k);
      for (std::uint32_t i = 0; i < k; ++i) {
        bigger[i] = std::move(rest_[i]);
      }
      rest_ = std::move(bigger);
    }
    rest_[k] = std::move(value);
    ++size_;
  }

  template <typename Self>
  class Iterator {
   public:
    Iterator(Self* list, std::uint32_t i) : list_(list), i_(i) {}

    decltype(auto) operator*() const { return (*list_)[i_]; }

    Iterator& operator++() {
      ++i_;
      return *this;
    }

    bool operator==(const Iterator& other) const { return i_ == other.i_; }

   private:
    Self* list_;
    std::uint32_t i_;
  };

  Iterator<InlineList> begin() { return {this, 0}; }

  Iterator<InlineList> end() { return {this, size_}; }

  Iterator<const InlineList> begin() const { return {this, 0}; }

  Iterator<const InlineList> end() const { return {this, size_}; }

 private:
  T first_{};
  std::uint32_t size_ = 0;
  std::unique_ptr<T[]> rest_;
};

}  // namespace txmail::queue
