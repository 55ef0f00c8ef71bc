#include "queue/gcra.h"

#include <algorithm>

namespace txmail::queue {

Gcra::Gcra(double rate_per_second, double burst) {
  if (rate_per_second > 0) {
    interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / rate_per_second));
    tolerance_ = interval_ * static_cast<long>(std::max(burst, 1.0) - 1);
  }
}

Gcra::Clock::duration Gcra::reserve(Clock::time_point now) {
  if (!limited()) {
    return Clock::duration::zero();
  }
  const Clock::time_point tat = std::max(tat_, now);
  const Clock::time_point allowed_at = tat - tolerance_;
  tat_ = tat + interval_;
  return allowed_at > now ? allowed_at - now : Clock::duration::zero();
}

}  // namespace txmail::queue
