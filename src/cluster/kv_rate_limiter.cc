#include "cluster/kv_rate_limiter.h"

#include <charconv>

#include "cluster/cluster.h"
#include "cluster/key_codec.h"
#include "common/log.h"

namespace txmail::cluster {

namespace {

constexpr auto kWatchPoll = std::chrono::milliseconds(250);
constexpr auto kRetryPause = std::chrono::milliseconds(500);

std::optional<std::int64_t> number(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

Result<std::unique_ptr<KvRateLimiter>> KvRateLimiter::open(NatsConnection& nats, std::string node) {
  kvStore* kv = nullptr;
  if (natsStatus s = js_KeyValue(&kv, nats.js(), kRatesBucket); s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster: the bucket ") + kRatesBucket
                                            + " (made by `txmail cluster init`)"));
  }
  std::unique_ptr<KvRateLimiter> limiter(new KvRateLimiter(nats, kv, std::move(node)));
  KvRateLimiter* self = limiter.get();
  self->publisher_ = std::thread([self] { self->publish(); });
  self->watcher_ = std::thread([self] { self->watch(); });
  return limiter;
}

KvRateLimiter::~KvRateLimiter() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_.store(true);
  }
  stop_cv_.notify_all();
  counts_.wake();
  if (publisher_.joinable()) {
    publisher_.join();
  }
  if (watcher_.joinable()) {
    watcher_.join();
  }
  kvStore_Destroy(kv_);
}

std::string KvRateLimiter::bucket_key(std::int64_t window_ms, const std::string& node,
                                      const std::string& account) {
  return "w" + std::to_string(window_ms / 1000) + "." + encode_key(node) + "."
         + encode_key(account);
}

bool KvRateLimiter::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

// Each round puts the counts that changed since the round before, one put per account; a put
// that fails is given back and tried again after a pause (the others' view of this node is
// older meanwhile: each node limits with what it knows).
void KvRateLimiter::publish() {
  bool reported = false;
  // Nothing goes out before the bucket's values are in: a restarted node publishing a count
  // from 0 would replace the one it published before the restart.
  while (!synced_.load() && !stop_.load()) {
    pause(std::chrono::milliseconds(50));
  }
  while (!stop_.load()) {
    auto changes = counts_.changes(std::chrono::seconds(1));
    if (stop_.load()) {
      return;
    }
    std::vector<tenancy::RegionRateLimiter::Change> failed;
    for (const auto& c : changes) {
      if (!failed.empty() || !nats_.connected()) {
        failed.push_back(c);
        continue;
      }
      const std::string key = bucket_key(c.window_ms, node_, c.account);
      std::uint64_t rev = 0;
      if (natsStatus s = kvStore_PutString(&rev, kv_, key.c_str(), std::to_string(c.count).c_str());
          s != NATS_OK) {
        if (!reported) {
          logger()->warn("{}; each node limits on its own counts until it can",
                         nats_error(s, "cluster: publishing hourly-limit counts").detail);
          reported = true;
        }
        failed.push_back(c);
      }
    }
    if (!failed.empty()) {
      counts_.retake(failed);
      pause(kRetryPause);
      continue;
    }
    if (reported && !changes.empty()) {
      logger()->info("cluster: hourly-limit counts are published again");
      reported = false;
    }
    pause(kPublishEvery);
  }
}

void KvRateLimiter::watch() {
  while (!stop_.load()) {
    if (!nats_.connected()) {
      pause(std::chrono::milliseconds(100));
      continue;
    }
    watch_once();
  }
}

void KvRateLimiter::watch_once() {
  retired_watchers_.sweep();
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = nats_.options().timeout.count();
  wo.IgnoreDeletes = true;
  kvWatcher* w = nullptr;
  const std::uint64_t generation = nats_.generation();
  if (natsStatus s = kvStore_WatchAll(&w, kv_, &wo); s != NATS_OK) {
    logger()->warn("{}", nats_error(s, std::string("cluster: watch of ") + kRatesBucket).detail);
    pause(kRetryPause);
    return;
  }
  while (!stop_.load()) {
    kvEntry* e = nullptr;
    const natsStatus s = kvWatcher_Next(&e, w, kWatchPoll.count());
    if (s == NATS_TIMEOUT) {
      retired_watchers_.sweep();
      // A reconnection may have lost messages of the ordered consumer: start over.
      if (nats_.generation() != generation) {
        break;
      }
      continue;
    }
    if (s != NATS_OK) {
      logger()->warn("{}", nats_error(s, std::string("cluster: watch of ") + kRatesBucket).detail);
      pause(kRetryPause);
      break;
    }
    if (e == nullptr) {
      synced_.store(true);  // the initial values are in; the updates follow
      continue;
    }
    if (kvEntry_Operation(e) == kvOp_Put) {
      apply(kvEntry_Key(e), std::string(static_cast<const char*>(kvEntry_Value(e)),
                                        static_cast<std::size_t>(kvEntry_ValueLen(e))));
    }
    kvEntry_Destroy(e);
  }
  if (stop_.load()) {
    return;  // shutting down: left to the connection's close (RetiredWatchers tells why)
  }
  retired_watchers_.retire(w);
}

void KvRateLimiter::apply(const std::string& key, const std::string& value) {
  // w<window s>.<node code>.<account code>: codes never hold a '.'.
  const std::string_view k = key;
  const auto first = k.find('.');
  const auto second = first == std::string_view::npos ? first : k.find('.', first + 1);
  std::optional<std::int64_t> window_s;
  std::optional<std::string> node;
  std::optional<std::string> account;
  if (k.starts_with('w') && second != std::string_view::npos) {
    window_s = number(k.substr(1, first - 1));
    node = decode_key(k.substr(first + 1, second - first - 1));
    account = decode_key(k.substr(second + 1));
  }
  const auto count = number(value);
  if (!window_s || !node || !account || !count) {
    logger()->warn("cluster: bucket {}: '{}' = '{}' is not a txmail count; ignored", kRatesBucket,
                   key, value);
    return;
  }
  counts_.observe(*node, *account, *window_s * 1000, *count);
}

}  // namespace txmail::cluster
