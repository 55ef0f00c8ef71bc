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

}  // namespace txmail::smtp
