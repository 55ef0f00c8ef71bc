// CachingResolver: a TTL-honouring cache in front of another resolver, shared by every
// thread. Answers (NODATA included) live for their TTL, clamped to [min_ttl, max_ttl];
// NXDOMAIN lives for negative_ttl (RFC 2308: short and bounded); temporary failures are never
// cached. Bounded in size: when full, expired entries go, then the oldest half.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

#include "dns/resolver.h"

namespace txmail::dns {

struct CacheOptions {
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{24 * 3600};
  std::chrono::seconds negative_ttl{300};
  std::size_t max_entries = 100'000;
};

class CachingResolver final : public Resolver {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  CachingResolver(Resolver& inner, CacheOptions options, Now now = Clock::now);

  awaitable<Result<Answer>> query(std::string name, RecordType type) override;
  std::size_t size() const;

 private:
  struct Entry {
    Result<Answer> value;
    Clock::time_point expires;
  };

  void store(const std::string& key, const Result<Answer>& value);

  Resolver& inner_;
  CacheOptions options_;
  Now now_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  Clock::time_point last_purge_{};  // under mutex_
};

}  // namespace txmail::dns
