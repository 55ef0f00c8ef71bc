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

// Failed authentications within a window (SMTP AUTH and the HTTP API share it), counted per
// (client address, user) and per address (issue harden-1): a guesser is stopped on one account
// after max_auth_failures_per_user and on every account after max_auth_failures_per_ip, so
// wrong passwords for one account do not lock out another account's users behind the same
// address (a proxy, a NAT) until the higher ceiling; the HTTP API checks the admin token
// before this, so no account's failures ever block it.
class AuthFailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit AuthFailureLimiter(const ServerOptions& options) : options_(options) {}

  // The address's ceiling alone (before the user is known).
  bool blocked(const std::string& ip, Clock::time_point now);
  // The address's ceiling or this user's limit from it.
  bool blocked(const std::string& ip, const std::string& user, Clock::time_point now);
  void record_failure(const std::string& ip, const std::string& user, Clock::time_point now);

 private:
  static constexpr std::size_t kMaxTracked = 100'000;
  void expire(std::deque<Clock::time_point>& events, Clock::time_point now) const;
  bool over(const std::string& key, std::size_t limit, Clock::time_point now);
  void add(const std::string& key, std::size_t limit, Clock::time_point now);
  static std::string user_key(const std::string& ip, const std::string& user) {
    return ip + '\0' + user;
  }

  const ServerOptions& options_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace txmail::smtp
