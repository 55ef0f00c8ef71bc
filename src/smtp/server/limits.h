// Server-wide limits a stranger could otherwise exhaust: connections in total and per client
// IP, and failed authentications per client IP within a window. Shared by every io thread.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "smtp/server/options.h"

namespace txmail::smtp {

class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(const ServerOptions& options) : options_(options) {}

  // Takes a slot for `ip`, or returns false when a limit is reached.
  bool acquire(const std::string& ip);
  void release(const std::string& ip);
  std::size_t total() const;

 private:
  const ServerOptions& options_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

class AuthFailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit AuthFailureLimiter(const ServerOptions& options) : options_(options) {}

  bool blocked(const std::string& ip, Clock::time_point now);
  void record_failure(const std::string& ip, Clock::time_point now);

 private:
  static constexpr std::size_t kMaxTracked = 100'000;
  void expire(std::deque<Clock::time_point>& events, Clock::time_point now) const;

  const ServerOptions& options_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace txmail::smtp
