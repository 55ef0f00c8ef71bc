#include "smtp/server/limits.h"

namespace txmail::smtp {

bool ConnectionLimiter::acquire(const std::string& ip) {
  std::lock_guard lock(mutex_);
  std::size_t& mine = per_ip_[ip];
  if (total_ >= options_.max_connections || mine >= options_.max_connections_per_ip) {
    if (mine == 0) {
      per_ip_.erase(ip);
    }
    return false;
  }
  ++mine;
  ++total_;
  return true;
}

void ConnectionLimiter::release(const std::string& ip) {
  std::lock_guard lock(mutex_);
  const auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
  --total_;
}

std::size_t ConnectionLimiter::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void AuthFailureLimiter::expire(std::deque<Clock::time_point>& events,
                                Clock::time_point now) const {
  while (!events.empty() && now - events.front() > options_.auth_failure_window) {
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
  return over(ip, options_.max_auth_failures_per_ip, now);
}

bool AuthFailureLimiter::blocked(const std::string& ip, const std::string& user,
                                 Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return over(ip, options_.max_auth_failures_per_ip, now)
         || over(user_key(ip, user), options_.max_auth_failures_per_user, now);
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
  add(ip, options_.max_auth_failures_per_ip, now);
  add(user_key(ip, user), options_.max_auth_failures_per_user, now);
}

}  // namespace txmail::smtp
