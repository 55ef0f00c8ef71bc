// A rate limiter by the generic cell rate algorithm: `rate` messages per second with a burst
// of `burst`. One number of state, exact over any window, no timers.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace txmail::queue {

class Gcra {
 public:
  using Clock = txmail::Clock;

  Gcra() = default;  // unlimited
  Gcra(double rate_per_second, double burst);

  // How long to wait before one more message may go (zero: now); takes the slot.
  Clock::duration reserve(Clock::time_point now);

  bool limited() const { return interval_.count() > 0; }

 private:
  Clock::duration interval_{0};
  Clock::duration tolerance_{0};
  Clock::time_point tat_{};  // theoretical arrival time
};

}  // namespace txmail::queue
