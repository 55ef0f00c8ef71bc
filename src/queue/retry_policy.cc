#include "queue/retry_policy.h"

#include <algorithm>

namespace txmail::queue {

RetryPolicy::Duration RetryPolicy::delay(std::uint32_t attempts, double unit) const {
  const std::size_t i = attempts == 0 ? 0 : attempts - 1;
  const Duration base = i < schedule.size() ? schedule[i] : tail;
  const double factor = 1.0 + jitter * (2.0 * std::clamp(unit, 0.0, 1.0) - 1.0);
  return Duration(static_cast<Duration::rep>(static_cast<double>(base.count()) * factor));
}

}  // namespace txmail::queue
