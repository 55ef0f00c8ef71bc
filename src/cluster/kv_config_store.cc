#include "cluster/kv_config_store.h"

#include "cluster/key_codec.h"
#include "common/log.h"

namespace txmail::cluster {

namespace {

constexpr auto kWatchPoll = std::chrono::milliseconds(250);
constexpr auto kRetryPause = std::chrono::milliseconds(500);
// JSStreamWrongLastSequenceErr: the compare-and-set lost (NATS.md section 3).
constexpr jsErrCode kWrongLastSequence = static_cast<jsErrCode>(10071);
// A conditional write retries while other keys change under it; each try is two round trips.
constexpr int kCasAttempts = 20;

}  // namespace

KvConfigStore::KvConfigStore(NatsConnection& nats, std::string bucket, Scope scope)
    : nats_(nats), bucket_(std::move(bucket)), scope_(scope) {
  const std::string& domain = scope == Scope::kHome ? nats_.options().home_domain : "";
  subject_prefix_ = (domain.empty() ? "" : "$JS." + domain + ".API.") + "$KV." + bucket_ + ".";
  stream_ = "KV_" + bucket_;
}

Result<std::unique_ptr<KvConfigStore>> KvConfigStore::open(NatsConnection& nats, std::string bucket,
                                                           std::chrono::milliseconds initial_wait,
                                                           Scope scope) {
  std::unique_ptr<KvConfigStore> s(new KvConfigStore(nats, std::move(bucket), scope));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  std::unique_lock lock(s->state_mutex_);
  if (!s->state_cv_.wait_for(lock, initial_wait, [&] { return s->synced_; })) {
    lock.unlock();
    return make_error(ErrorCode::kUnavailable,
                      "cluster: the configuration bucket '" + s->bucket_
                          + "' could not be read within "
                          + std::to_string(initial_wait.count() / 1000)
                          + " s (is NATS reachable, and did `txmail cluster init` run?)");
  }
  return s;
}

KvConfigStore::~KvConfigStore() {
  {
    std::lock_guard lock(state_mutex_);
    stopping_ = true;
  }
  stop_.store(true);
  state_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool KvConfigStore::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(state_mutex_);
  return !state_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void KvConfigStore::run() {
  kvStore* kv = nullptr;
  bool reported = false;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (!nats_.connected()) {
      pause(std::chrono::milliseconds(100));
      continue;
    }
    if (kv == nullptr) {
      if (natsStatus s = js_KeyValue(&kv, nats_.js(), bucket_.c_str()); s != NATS_OK) {
        kv = nullptr;
        if (!reported) {
          logger()->error("{}", nats_error(s, "cluster: config bucket " + bucket_).detail);
          reported = true;
        }
        pause(kRetryPause);
        continue;
      }
    }
    reported = false;
    watch_once(kv);
  }
  kvStore_Destroy(kv);
}

void KvConfigStore::watch_once(kvStore* kv) {
  retired_watchers_.sweep();
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = nats_.options().timeout.count();
  kvWatcher* w = nullptr;
  const std::uint64_t generation = nats_.generation();
  if (natsStatus s = kvStore_WatchAll(&w, kv, &wo); s != NATS_OK) {
    logger()->warn("{}", nats_error(s, "cluster: watch of " + bucket_).detail);
    pause(kRetryPause);
    return;
  }
  std::map<std::string, Slot> fresh;
  bool initial = true;
  while (!stop_.load(std::memory_order_relaxed)) {
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
      logger()->warn("{}", nats_error(s, "cluster: watch of " + bucket_).detail);
      pause(kRetryPause);
      break;
    }
    if (e == nullptr) {
      // The initial values are complete.
      reconcile(std::move(fresh));
      fresh.clear();
      initial = false;
      {
        std::lock_guard lock(state_mutex_);
        synced_ = true;
      }
      state_cv_.notify_all();
      continue;
    }
    const std::string code = kvEntry_Key(e);
    auto key = decode_key(code);
    const bool deleted = kvEntry_Operation(e) != kvOp_Put;
    std::optional<std::string> value;
    if (!deleted) {
      value.emplace(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
    }
    const std::uint64_t revision = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (!key) {
      logger()->warn("cluster: config bucket {}: key '{}' is not a txmail key; ignored", bucket_,
                     code);
      continue;
    }
    if (initial) {
      fresh[*key] = Slot{std::move(value), revision};
    } else {
      apply(*key, std::move(value), revision);
    }
  }
  if (stop_.load(std::memory_order_relaxed)) {
    return;  // shutting down: left to the connection's close (RetiredWatchers tells why)
  }
  retired_watchers_.retire(w);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): the values are moved out below
void KvConfigStore::reconcile(std::map<std::string, Slot> fresh) {
  std::uint64_t floor = 0;
  for (const auto& [key, slot] : fresh) {
    floor = std::max(floor, slot.revision);
  }
  // Keys the bucket no longer holds (purged while this node was away): erased here too,
  // unless this node wrote them after the watch's view was taken.
  std::vector<std::string> gone;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [key, slot] : snapshot_) {
      if (slot.value && slot.revision <= floor && !fresh.contains(key)) {
        gone.push_back(key);
      }
    }
  }
  for (const auto& key : gone) {
    std::lock_guard order(notify_order_);
    {
      std::unique_lock lock(mutex_);
      auto it = snapshot_.find(key);
      if (it == snapshot_.end() || it->second.revision > floor) {
        continue;  // written again meanwhile
      }
      snapshot_.erase(it);
    }
    notify(store::ConfigChange{key, std::nullopt, floor});
  }
  for (auto& [key, slot] : fresh) {
    apply(key, std::move(slot.value), slot.revision);
  }
}

void KvConfigStore::apply(const std::string& key, std::optional<std::string> value,
                          std::uint64_t revision) {
  std::lock_guard order(notify_order_);
  store::ConfigChange change{key, std::nullopt, revision};
  {
    std::unique_lock lock(mutex_);
    auto& slot = snapshot_[key];
    if (slot.revision >= revision && slot.revision != 0) {
      return;  // seen already (this node's own write, or an older view)
    }
    const bool was_present = slot.value.has_value();
    slot.revision = revision;
    slot.value = value;
    revision_ = std::max(revision_, revision);
    if (!was_present && !value) {
      return;  // a tombstone of a key this node never saw
    }
    change.value = std::move(value);
  }
  notify(change);
}

void KvConfigStore::notify(const store::ConfigChange& change) {
  std::vector<WatchFn> fns;
  {
    std::lock_guard lock(watch_mutex_);
    for (const auto& [id, w] : watchers_) {
      if (change.key.starts_with(w.first)) {
        fns.push_back(w.second);
      }
    }
  }
  for (const auto& fn : fns) {
    fn(change);
  }
}

Result<std::optional<store::ConfigEntry>> KvConfigStore::get(std::string_view key) {
  std::shared_lock lock(mutex_);
  auto it = snapshot_.find(std::string(key));
  if (it == snapshot_.end() || !it->second.value) {
    return std::optional<store::ConfigEntry>{};
  }
  return std::optional<store::ConfigEntry>{
      store::ConfigEntry{it->first, *it->second.value, it->second.revision}};
}

Result<std::vector<store::ConfigEntry>> KvConfigStore::list(std::string_view prefix) {
  std::vector<store::ConfigEntry> out;
  std::shared_lock lock(mutex_);
  for (auto it = snapshot_.lower_bound(std::string(prefix));
       it != snapshot_.end() && it->first.starts_with(prefix); ++it) {
    if (it->second.value) {
      out.push_back(store::ConfigEntry{it->first, *it->second.value, it->second.revision});
    }
  }
  return out;
}

Result<std::uint64_t> KvConfigStore::put(std::string_view key, std::string_view value,
                                         store::Expect expect) {
  return write(key, value, expect);
}

Result<std::uint64_t> KvConfigStore::erase(std::string_view key, store::Expect expect) {
  return write(key, std::nullopt, expect);
}

Result<std::uint64_t> KvConfigStore::write(std::string_view key,
                                           const std::optional<std::string_view>& value,
                                           store::Expect expect) {
  if (key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "config store: empty key");
  }
  if (!nats_.connected()) {
    return make_error(ErrorCode::kUnavailable,
                      "the cluster's configuration store is unreachable (no NATS connection)");
  }
  const std::string k(key);
  std::uint64_t tombstone = 0;
  {
    std::shared_lock lock(mutex_);
    if (auto it = snapshot_.find(k); it != snapshot_.end() && !it->second.value) {
      tombstone = it->second.revision;
    }
  }
  const std::string subject = subject_prefix_ + encode_key(k);
  NatsMsg msg;
  natsStatus s = natsMsg_Create(&msg.msg, subject.c_str(), nullptr, value ? value->data() : "",
                                value ? static_cast<int>(value->size()) : 0);
  if (s == NATS_OK && !value) {
    s = natsMsgHeader_Set(msg.msg, "KV-Operation", "DEL");
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "config store: " + k));
  }
  // What the key's last change must be: 0 for "no message on the subject".
  std::optional<std::uint64_t> key_last;
  switch (expect.kind) {
    case store::Expect::Kind::kAny:
      break;
    case store::Expect::Kind::kAbsent:
      // A deleted key still has its marker: "absent" is "the marker is the last change".
      key_last = tombstone;
      break;
    case store::Expect::Kind::kRevision:
      key_last = expect.revision;
      break;
  }
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto stored = publish(msg.msg, key_last);
    if (stored || stored.error().code != ErrorCode::kConflict || !key_last) {
      if (stored) {
        apply(k, value ? std::optional<std::string>(*value) : std::nullopt, *stored);
      }
      return stored;
    }
    // The stream moved on: lost, if this key is no longer what the write expects.
    auto current = last_change("$KV." + bucket_ + "." + encode_key(k));
    if (!current) {
      return tl::unexpected(current.error());
    }
    const bool holds = expect.kind == store::Expect::Kind::kAbsent
                           ? !current->present
                           : current->present && current->revision == expect.revision;
    if (!holds) {
      return make_error(ErrorCode::kConflict, "config store: " + k + " changed concurrently");
    }
    key_last = current->revision;
  }
  return make_error(ErrorCode::kUnavailable,
                    "config store: " + k + ": the bucket is too busy; try again");
}

// A conditional write. nats-server 2.9.10 checks a per-subject expectation against what its
// stream leader has stored, not against writes still being replicated: two writers expecting
// the same revision of one key both succeed (measured: 146 of 200 concurrent pairs). The check
// of the stream's last sequence does count those writes, so a conditional write names both:
// the key's last change and the stream's last sequence, read from the leader just before.
Result<std::uint64_t> KvConfigStore::publish(natsMsg* msg, std::optional<std::uint64_t> key_last) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = nats_.options().timeout.count();
  auto jerr = static_cast<jsErrCode>(0);
  if (key_last) {
    jsStreamInfo* si = nullptr;
    natsStatus s = js_GetStreamInfo(&si, writer_js(), stream_.c_str(), nullptr, &jerr);
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "config store: the bucket's state"));
    }
    po.ExpectLastSeq = si->State.LastSeq;  // 0 (an empty bucket) is "no condition" here
    jsStreamInfo_Destroy(si);
    if (*key_last == 0) {
      po.ExpectNoMessage = true;
    } else {
      po.ExpectLastSubjectSeq = *key_last;
    }
  }
  jsPubAck* ack = nullptr;
  const natsStatus s = js_PublishMsg(&ack, writer_js(), msg, &po, &jerr);
  if (s != NATS_OK) {
    if (jerr == kWrongLastSequence) {
      return make_error(ErrorCode::kConflict, "wrong last sequence");
    }
    return tl::unexpected(nats_error(s, "config store: write"));
  }
  const std::uint64_t revision = ack->Sequence;
  jsPubAck_Destroy(ack);
  return revision;
}

Result<KvConfigStore::LastChange> KvConfigStore::last_change(const std::string& subject) {
  natsMsg* m = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_GetLastMsg(&m, writer_js(), stream_.c_str(), subject.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND) {
    return LastChange{false, 0};
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "config store: the key's last change"));
  }
  const char* op = nullptr;
  const bool deleted = natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK;
  LastChange c{!deleted, natsMsg_GetSequence(m)};
  natsMsg_Destroy(m);
  return c;
}

Result<std::uint64_t> KvConfigStore::fresh_revision(std::string_view key) {
  auto last = last_change("$KV." + bucket_ + "." + encode_key(key));
  if (!last) {
    return tl::unexpected(last.error());
  }
  return last->present ? last->revision : 0;
}

Result<bool> KvConfigStore::fresh_erased(std::string_view key) {
  auto last = last_change("$KV." + bucket_ + "." + encode_key(key));
  if (!last) {
    return tl::unexpected(last.error());
  }
  return !last->present && last->revision != 0;
}

Result<std::optional<store::ConfigEntry>> KvConfigStore::fresh_get(std::string_view key) {
  natsMsg* m = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  const std::string subject = "$KV." + bucket_ + "." + encode_key(key);
  const natsStatus s =
      js_GetLastMsg(&m, writer_js(), stream_.c_str(), subject.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND) {
    return std::nullopt;
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "config store: the key's last change"));
  }
  NatsMsg guard;
  guard.msg = m;
  const char* op = nullptr;
  if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK) {
    return std::nullopt;  // a delete or purge marker
  }
  return store::ConfigEntry{
      std::string(key),
      std::string(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))),
      natsMsg_GetSequence(m)};
}

std::uint64_t KvConfigStore::watch(std::string prefix, WatchFn fn) {
  std::lock_guard lock(watch_mutex_);
  const std::uint64_t id = next_watch_++;
  watchers_.emplace(id, std::make_pair(std::move(prefix), std::move(fn)));
  return id;
}

void KvConfigStore::unwatch(std::uint64_t id) {
  std::lock_guard lock(watch_mutex_);
  watchers_.erase(id);
}

std::size_t KvConfigStore::size() const {
  std::shared_lock lock(mutex_);
  std::size_t n = 0;
  for (const auto& [key, slot] : snapshot_) {
    n += slot.value ? 1 : 0;
  }
  return n;
}

std::uint64_t KvConfigStore::revision() const {
  std::shared_lock lock(mutex_);
  return revision_;
}

}  // namespace txmail::cluster
