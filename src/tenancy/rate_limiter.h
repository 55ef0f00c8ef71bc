// The per-account request limit shared by REST and SMTP (issue core-4, item 8): an hourly
// figure checked in 5-minute windows with 25% tolerance, so a window admits
// ceil(hourly / 12 * 1.25) requests.
//
// RequestLimiter is what REST and SMTP ask; RateLimiter counts on this node alone (embedded
// mode), in memory, one counter per account that sent in the current window; safe on any
// thread (one short lock). A cluster node counts across its region instead
// (region_rate_limiter.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace txmail::tenancy {

class RequestLimiter {
 public:
  static constexpr std::int64_t kWindowMs = std::int64_t{5} * 60 * 1000;

  RequestLimiter() = default;
  virtual ~RequestLimiter() = default;
  RequestLimiter(const RequestLimiter&) = delete;
  RequestLimiter& operator=(const RequestLimiter&) = delete;
  RequestLimiter(RequestLimiter&&) = delete;
  RequestLimiter& operator=(RequestLimiter&&) = delete;

  // 0 when the request may go ahead (and is counted), else the seconds until the next window.
  // hourly <= 0: no limit. Never blocks: SMTP asks on its I/O threads.
  virtual std::int64_t acquire(const std::string& account, std::int64_t hourly,
                               std::int64_t now_ms) = 0;

  static std::int64_t per_window(std::int64_t hourly);

  static std::int64_t window_start(std::int64_t now_ms) { return now_ms - now_ms % kWindowMs; }

  // Seconds until the window that holds now_ms ends, rounded up.
  static std::int64_t seconds_left(std::int64_t now_ms) {
    return (window_start(now_ms) + kWindowMs - now_ms + 999) / 1000;
  }
};

class RateLimiter final : public RequestLimiter {
 public:
  std::int64_t acquire(const std::string& account, std::int64_t hourly,
                       std::int64_t now_ms) override;

 private:
  struct Window {
    std::int64_t start_ms = 0;
    std::int64_t used = 0;
  };

  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace txmail::tenancy
