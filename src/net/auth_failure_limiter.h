// Failed authentications within a window, counted per (client address, user) and per address
// (issue harden-1): a guesser is stopped on one account after `per_user` failures and on every
// account after `per_ip`, so wrong passwords for one account do not lock out another account's
// users behind the same address (a proxy, a NAT) until the higher ceiling.
//
// One instance serves every listener that takes credentials: SMTP AUTH and the HTTP API share
// it (app/serve.cc makes it and hands it to both), so a guesser cannot double its tries by
// switching protocol. The HTTP API checks the admin token before this, so no account's
// failures ever block the operator. Safe on any thread (one short lock).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace txmail::net {

struct AuthFailureLimits {
  std::size_t per_user = 10;  // per (address, user) and window: then that user is refused there
  std::size_t per_ip = 100;   // per address and window, any user: then every user is refused
  std::chrono::milliseconds window = std::chrono::minutes(5);
};

class AuthFailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit AuthFailureLimiter(AuthFailureLimits limits) : limits_(limits) {}

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

  const AuthFailureLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace txmail::net
