// The one clock of txmail's schedulers: wall time (now_ms(), in common/duration.h) and steady
// time (Clock::now()) both read through here, and the delivery engine's timers run on it
// (Timer in net/asio.h), so a unit test moves time forward at once instead of sleeping
// (Clock::advance). Production never moves it: the offset stays zero and timers wait as
// steady_clock's do.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>

namespace txmail {

struct Clock {
  // The names the standard's Clock requirements fix.
  // NOLINTBEGIN(readability-identifier-naming)
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;

  // NOLINTEND(readability-identifier-naming)

  static time_point now() noexcept {
    return time_point(std::chrono::steady_clock::now().time_since_epoch() + offset());
  }

  static duration offset() noexcept { return duration(offset_.load(std::memory_order_relaxed)); }

  // Tests only: every reader of the clock, wall and steady, jumps forward by `d`.
  static void advance(duration d) noexcept {
    manual_.store(true, std::memory_order_relaxed);
    offset_.fetch_add(d.count(), std::memory_order_relaxed);
  }

  // Once a test moved the clock, timers look at it often (ClockWaitTraits).
  static bool manual() noexcept { return manual_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<rep> offset_{0};       // NOLINT(readability-identifier-naming)
  static inline std::atomic<bool> manual_{false};  // NOLINT(readability-identifier-naming)
};

// How long a timer on Clock waits before it looks again: as long as asked, except under a
// moved clock, where it looks every millisecond so that a jump fires it at once.
struct ClockWaitTraits {
  static Clock::duration to_wait_duration(const Clock::duration& d) {
    return Clock::manual() ? std::min<Clock::duration>(d, std::chrono::milliseconds(1)) : d;
  }

  static Clock::duration to_wait_duration(const Clock::time_point& t) {
    return to_wait_duration(t - Clock::now());
  }
};

}  // namespace txmail
