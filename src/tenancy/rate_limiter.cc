#include "tenancy/rate_limiter.h"

namespace txmail::tenancy {

std::int64_t RequestLimiter::per_window(std::int64_t hourly) {
  // hourly * 1.25 / 12, rounded up: 5,000 an hour → 521 per 5 minutes.
  return (hourly * 5 + 47) / 48;
}

std::int64_t RateLimiter::acquire(const std::string& account, std::int64_t hourly,
                                  std::int64_t now_ms) {
  if (hourly <= 0) {
    return 0;
  }
  const std::int64_t start = window_start(now_ms);
  std::lock_guard lock(mutex_);
  if (windows_.size() > 100'000) {
    std::erase_if(windows_, [start](const auto& kv) { return kv.second.start_ms != start; });
  }
  Window& w = windows_[account];
  if (w.start_ms != start) {
    w = Window{start, 0};
  }
  if (w.used >= per_window(hourly)) {
    return seconds_left(now_ms);
  }
  ++w.used;
  return 0;
}

}  // namespace txmail::tenancy
