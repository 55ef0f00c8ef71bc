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

bool AuthFailureLimiter::blocked(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = failures_.find(ip);
  if (it == failures_.end()) {
    return false;
  }
  expire(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return false;
  }
  return it->second.size() >= options_.max_auth_failures_per_ip;
}

void AuthFailureLimiter::record_failure(const std::string& ip, Clock::time_point now) {
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
  auto& events = failures_[ip];
  expire(events, now);
  events.push_back(now);
  // Memory stays bounded per IP: older events beyond the limit add nothing.
  while (events.size() > options_.max_auth_failures_per_ip) {
    events.pop_front();
  }
}

}  // namespace txmail::smtp
