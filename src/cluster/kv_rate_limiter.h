// KvRateLimiter: the per-account hourly limit counted across the region (issue site-3, item 5)
// through the bucket txmail_rates. Internal to the cluster module; ClusterNode hands it out.
//
// The counting is tenancy::RegionRateLimiter's; this adds the exchange. Each node publishes
// its count of an account's window as the key "w<window start, s>.<node>.<account>" (node and
// account through encode_key), at most every kPublishEvery, coalescing what it admitted
// meanwhile; a watcher of the whole bucket feeds every node's counts back in (its own
// included: a restarted node resumes its count, and publishes nothing before it has them). The
// bucket forgets a key 11 minutes after its last change, so it holds three windows at most.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/nats_connection.h"
#include "tenancy/region_rate_limiter.h"

namespace txmail::cluster {

class KvRateLimiter final : public tenancy::RequestLimiter {
 public:
  static constexpr std::chrono::milliseconds kPublishEvery{5};

  static Result<std::unique_ptr<KvRateLimiter>> open(NatsConnection& nats, std::string node);
  ~KvRateLimiter() override;
  KvRateLimiter(const KvRateLimiter&) = delete;
  KvRateLimiter& operator=(const KvRateLimiter&) = delete;
  KvRateLimiter(KvRateLimiter&&) = delete;
  KvRateLimiter& operator=(KvRateLimiter&&) = delete;

  std::int64_t acquire(const std::string& account, std::int64_t hourly,
                       std::int64_t now_ms) override {
    return counts_.acquire(account, hourly, now_ms);
  }

  static std::string bucket_key(std::int64_t window_ms, const std::string& node,
                                const std::string& account);

 private:
  KvRateLimiter(NatsConnection& nats, kvStore* kv, std::string node)
      : nats_(nats), kv_(kv), node_(std::move(node)), counts_(node_) {}

  void publish();  // the publisher's thread
  void watch();    // the watcher's thread
  void watch_once();
  void apply(const std::string& key, const std::string& value);
  bool pause(std::chrono::milliseconds d);  // false when stopping

  NatsConnection& nats_;
  kvStore* kv_;
  const std::string node_;
  tenancy::RegionRateLimiter counts_;
  std::atomic<bool> stop_{false};
  RetiredWatchers retired_watchers_;  // the watch thread's
  std::atomic<bool> synced_{false};   // the watcher has had the bucket's values once
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::thread publisher_;
  std::thread watcher_;
};

}  // namespace txmail::cluster
