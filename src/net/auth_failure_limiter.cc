#include "net/auth_failure_limiter.h"

namespace txmail::net {

void AuthFailureLimiter::expire(std::deque<Clock::time_point>& events,
                                Clock::time_point now) const {
  while (!events.empty() && now - events.front() > limits_.window) {
    events.pop_front();
  }
}

bool AuthFailureLimiter::over(const std::string& key, std::size_t limit, Clock::time_point now) {
  const auto it = failures_.find(key);
  if (it == failures_.end()) {
    return false;
  }
  expire(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return false;
  }
  return it->second.size() >= limit;
}

bool AuthFailureLimiter::blocked(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return over(ip, limits_.per_ip, now);
}

bool AuthFailureLimiter::blocked(const std::string& ip, const std::string& user,
                                 Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return over(ip, limits_.per_ip, now) || over(user_key(ip, user), limits_.per_user, now);
}

void AuthFailureLimiter::add(const std::string& key, std::size_t limit, Clock::time_point now) {
  auto& events = failures_[key];
  expire(events, now);
  events.push_back(now);
  // Memory stays bounded per key: older events beyond the limit add nothing.
  while (events.size() > limit) {
    events.pop_front();
  }
}

void AuthFailureLimiter::record_failure(const std::string& ip, const std::string& user,
                                        Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // Many addresses (an IPv6 botnet) must not grow the table without bound: sweep expired
  // entries when it gets large, and forget everything if that does not help.
  if (failures_.size() >= kMaxTracked) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      expire(it->second, now);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= kMaxTracked) {
      failures_.clear();
    }
  }
  add(ip, limits_.per_ip, now);
  add(user_key(ip, user), limits_.per_user, now);
}

}  // namespace txmail::net
