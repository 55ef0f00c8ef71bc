// SourceLine: the connection slots of one egress source and the line of destinations (ready
// queues) waiting for one (issue deliver-2). Pure bookkeeping, no I/O and no clock: the engine
// asks it whether a connection may open and whom a freed slot goes to.
//
// Invariants:
// - at most `capacity` connections are open or opening at once, and at most `opening_cap` of
//   them are still opening (TCP connect, greeting, EHLO, STARTTLS): a destination that accepts
//   connections and never greets can hold no more than that share of the source;
// - a waiter is in the line at most once, and leaves it in the order it joined (a waiter that
//   still needs more after it got a slot joins again at the back: slots go round-robin across
//   destinations, as Postfix's queue manager hands out its delivery agents);
// - every release of a slot or end of an opening is followed by the engine taking waiters with
//   next() until it returns nothing: that is the one wake-up path of a source-bound wait.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

namespace txmail::queue {

template <typename Waiter>
class SourceLine {
 public:
  SourceLine(std::size_t capacity, std::size_t opening_cap)
      : capacity_(std::max<std::size_t>(capacity, 1)),
        opening_cap_(std::clamp<std::size_t>(opening_cap, 1, std::max<std::size_t>(capacity, 1))) {}

  bool can_open() const { return connections_ < capacity_ && opening_ < opening_cap_; }

  bool full() const { return connections_ >= capacity_; }

  // A connection starts opening (the caller checked can_open()).
  void open() {
    ++connections_;
    ++opening_;
  }

  // It is open, or failed to open.
  void opened() { --opening_; }

  // It ended (after opened()).
  void closed() { --connections_; }

  // Queues `w` at the back. The caller keeps a waiter in the line at most once (a flag of its
  // own: a search here would cost O(line) per join with 100,000 destinations waiting).
  void join(Waiter w) { line_.push_back(w); }

  // The waiter that gets the next slot, taken from the line: only while a slot is free.
  std::optional<Waiter> next() {
    if (line_.empty() || !can_open()) {
      return std::nullopt;
    }
    Waiter w = line_.front();
    line_.pop_front();
    return w;
  }

  void forget(Waiter w) { std::erase(line_, w); }

  bool has_waiters() const { return !line_.empty(); }

  std::size_t waiting() const { return line_.size(); }

  std::size_t connections() const { return connections_; }

  std::size_t opening() const { return opening_; }

 private:
  std::size_t capacity_;
  std::size_t opening_cap_;
  std::size_t connections_ = 0;
  std::size_t opening_ = 0;
  std::deque<Waiter> line_;
};

}  // namespace txmail::queue
