// The per-account request limit shared by REST and SMTP (issue core-4, item 8): an hourly
// figure checked in 5-minute windows with 25% tolerance, so a window admits
// ceil(hourly / 12 * 1.25) requests. Counters live in memory, one per account that sent in the
// current window; safe on any thread (one short lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace txmail::tenancy {

class RateLimiter {
 public:
  static constexpr std::int64_t kWindowMs = std::int64_t{5} * 60 * 1000;

  // 0 when the request may go ahead (and is counted), else the seconds until the next window.
  // hourly == 0: no limit.
  std::int64_t acquire(const std::string& account, std::int64_t hourly, std::int64_t now_ms);

  static std::int64_t per_window(std::int64_t hourly);

 private:
  struct Window {
    std::int64_t start_ms = 0;
    std::int64_t used = 0;
  };

  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace txmail::tenancy
