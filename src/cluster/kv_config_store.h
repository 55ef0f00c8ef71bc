// KvConfigStore: the cluster backend of store::ConfigStore, on a JetStream key-value bucket
// replicated across the region's sites (DESIGN.md sections 4 and 5, NATS.md section 3).
//
// Reads never touch the network: every node keeps the whole bucket in memory, fed by a watch
// (an ordered consumer) that starts over, with the whole bucket, whenever the connection comes
// back. A write is a publish to the key's subject with the revision it expects (the KV
// revision is the stream sequence, so it is the compare-and-set token; see publish() for why
// the stream's last sequence is named too): a lost race is
// kConflict, a region that cannot be reached kUnavailable, and nothing is queued for later. A
// node reads its own writes at once: a successful write enters the snapshot before put()
// returns; the same change arriving later through the watch is recognised by its revision.
//
// Watchers hear each change once per key in revision order: the node's own writes on the
// writer's thread, other nodes' on the watch thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "cluster/nats_connection.h"
#include "store/config_store.h"

namespace txmail::cluster {

class KvConfigStore final : public store::ConfigStore {
 public:
  // Where a bucket's writes go: the home domain's (configuration, written once for every
  // region) or this region's own (heartbeats and spool owners, which stay in their region).
  enum class Scope : std::uint8_t { kHome, kRegion };

  // Binds the bucket (made by `txmail cluster init`) and waits up to `initial_wait` for the
  // first complete snapshot.
  static Result<std::unique_ptr<KvConfigStore>> open(NatsConnection& nats, std::string bucket,
                                                     std::chrono::milliseconds initial_wait,
                                                     Scope scope = Scope::kHome);
  ~KvConfigStore() override;
  KvConfigStore(const KvConfigStore&) = delete;
  KvConfigStore& operator=(const KvConfigStore&) = delete;
  KvConfigStore(KvConfigStore&&) = delete;
  KvConfigStore& operator=(KvConfigStore&&) = delete;

  Result<std::optional<store::ConfigEntry>> get(std::string_view key) override;
  Result<std::vector<store::ConfigEntry>> list(std::string_view prefix) override;
  Result<std::uint64_t> put(std::string_view key, std::string_view value,
                            store::Expect expect) override;
  Result<std::uint64_t> erase(std::string_view key, store::Expect expect) override;
  std::uint64_t watch(std::string prefix, WatchFn fn) override;
  void unwatch(std::uint64_t id) override;

  // A key's revision as the stream's leader has it now (0: no value), never from the
  // snapshot: a lease is confirmed with it, because the watch may lag behind a claim.
  Result<std::uint64_t> fresh_revision(std::string_view key);
  // The same for the whole entry: nullopt when the key has no value.
  Result<std::optional<store::ConfigEntry>> fresh_get(std::string_view key);
  // Whether the key's last change, as the stream's leader has it now, is a delete or purge
  // marker: erased, as opposed to holding a value or never written at all.
  Result<bool> fresh_erased(std::string_view key);

  std::size_t size() const;
  // The highest revision this node has seen (its own writes and the watch).
  std::uint64_t revision() const;

 private:
  // A key's last change; a deleted key stays as a tombstone (its revision is the marker's,
  // which a later create must name).
  struct Slot {
    std::optional<std::string> value;
    std::uint64_t revision = 0;
  };

  KvConfigStore(NatsConnection& nats, std::string bucket, Scope scope);

  jsCtx* writer_js() { return scope_ == Scope::kHome ? nats_.home_js() : nats_.js(); }

  void run();
  // One watch from its start to its end (error, reconnection, stop).
  void watch_once(kvStore* kv);
  // Takes the snapshot by value: its values are moved into the store, never copied.
  void reconcile(std::map<std::string, Slot> fresh);  // NOLINT(performance-unnecessary-value-param)
  void apply(const std::string& key, std::optional<std::string> value, std::uint64_t revision);
  void notify(const store::ConfigChange& change);
  Result<std::uint64_t> write(std::string_view key, const std::optional<std::string_view>& value,
                              store::Expect expect);
  bool pause(std::chrono::milliseconds d);  // false when stopping
  // One conditional (key_last set) or unconditional publish; the new revision.
  Result<std::uint64_t> publish(natsMsg* msg, std::optional<std::uint64_t> key_last);

  struct LastChange {
    bool present = false;        // a value (not a delete marker, not nothing)
    std::uint64_t revision = 0;  // the marker's or the value's; 0: no message
  };

  Result<LastChange> last_change(const std::string& subject);

  NatsConnection& nats_;
  const std::string bucket_;
  const Scope scope_;
  std::string subject_prefix_;  // "$KV.<bucket>." (with the home domain's API prefix)
  std::string stream_;          // "KV_<bucket>"

  mutable std::shared_mutex mutex_;  // snapshot_, revision_
  std::map<std::string, Slot> snapshot_;
  std::uint64_t revision_ = 0;

  std::recursive_mutex notify_order_;  // recursive: a watcher may write
  std::mutex watch_mutex_;
  std::map<std::uint64_t, std::pair<std::string, WatchFn>> watchers_;
  std::uint64_t next_watch_ = 1;

  std::mutex state_mutex_;
  std::condition_variable state_cv_;
  bool synced_ = false;
  bool stopping_ = false;
  // The same, read without the mutex by the watch loops: a condition-variable wait per entry
  // cost 80 us (17 s to load 200,000 entries instead of 2; bench/cluster_config.sh).
  std::atomic<bool> stop_{false};
  RetiredWatchers retired_watchers_;  // the watch thread's
  std::thread thread_;
};

}  // namespace txmail::cluster
