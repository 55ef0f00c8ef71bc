#include "dns/caching_resolver.h"

#include <algorithm>
#include <vector>

namespace txmail::dns {

CachingResolver::CachingResolver(Resolver& inner, CacheOptions options, Now now)
    : inner_(inner), options_(options), now_(std::move(now)) {}

std::size_t CachingResolver::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

awaitable<Result<Answer>> CachingResolver::query(std::string name, RecordType type) {
  name = normalize_name(name);
  std::string key = std::to_string(static_cast<int>(type)) + ":" + name;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it != entries_.end()) {
      const auto now = now_();
      if (it->second.expires > now) {
        Result<Answer> hit = it->second.value;
        if (hit) {
          hit->ttl = std::chrono::duration_cast<std::chrono::seconds>(it->second.expires - now);
        }
        co_return hit;
      }
      entries_.erase(it);
    }
  }
  Result<Answer> answer = co_await inner_.query(name, type);
  store(key, answer);
  co_return answer;
}

void CachingResolver::store(const std::string& key, const Result<Answer>& value) {
  std::chrono::seconds ttl{0};
  if (value) {
    ttl = std::clamp(value->ttl, options_.min_ttl, options_.max_ttl);
  } else if (value.error().code == ErrorCode::kNotFound) {
    ttl = options_.negative_ttl;
  } else {
    return;  // temporary failures are asked again next time
  }
  const auto now = now_();
  std::lock_guard lock(mutex_);
  // Expired answers go at least once a minute, not only when the cache is full: a burst to
  // 100,000 domains must not hold their answers after their TTLs (issue deliver-2).
  if (now - last_purge_ >= std::chrono::minutes(1)) {
    last_purge_ = now;
    std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; });
  }
  if (entries_.size() >= options_.max_entries) {
    std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; });
    if (entries_.size() >= options_.max_entries) {
      std::vector<std::pair<Clock::time_point, std::string>> order;
      order.reserve(entries_.size());
      for (const auto& [k, e] : entries_) {
        order.emplace_back(e.expires, k);
      }
      const auto middle = order.begin() + static_cast<std::ptrdiff_t>(order.size() / 2);
      std::nth_element(order.begin(), middle, order.end());
      for (auto it = order.begin(); it != middle; ++it) {
        entries_.erase(it->second);
      }
    }
  }
  entries_.insert_or_assign(key, Entry{value, now + ttl});
}

}  // namespace txmail::dns
