#include "cluster/jetstream_spool.h"

#include <algorithm>

#include "cluster/job_parts.h"
#include "common/log.h"

namespace txmail::cluster {

namespace {

// The acknowledgement callback's closure is a number looked up here, never a pointer to the
// spool: a callback already running when the spool closes finds nothing instead of freed
// memory (jsCtx_Destroy does not wait for a running callback).
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::unordered_map<std::uintptr_t, JetStreamSpool*>& registry() {
  static std::unordered_map<std::uintptr_t, JetStreamSpool*> r;
  return r;
}

std::uintptr_t next_registry_id() {
  static std::atomic<std::uintptr_t> next{1};
  return next.fetch_add(1);
}

void on_ack(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  {
    std::lock_guard lock(registry_mutex());
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): a number, never dereferenced
    if (auto it = registry().find(reinterpret_cast<std::uintptr_t>(closure));
        it != registry().end()) {
      it->second->acknowledged(msg, pa, pae);
    }
  }
  natsMsg_Destroy(msg);
}

// The stream's refusals that sending again cannot change; everything else (timeouts, no
// responders, an election, "temporarily unavailable") is sent again until the deadline.
bool permanent(jsErrCode code) {
  static constexpr jsErrCode kPermanent[] = {JSStorageResourcesExceededErr,
                                             JSStreamMessageExceedsMaximumErr, JSStreamNotFoundErr,
                                             JSStreamNotMatchErr, JSStreamStoreFailedErr};
  return std::find(std::begin(kPermanent), std::end(kPermanent), code) != std::end(kPermanent);
}

std::size_t final_count(const std::vector<store::SpoolRecipient>& recipients) {
  return static_cast<std::size_t>(std::count_if(
      recipients.begin(), recipients.end(),
      [](const store::SpoolRecipient& r) { return r.status != store::RecipientStatus::kQueued; }));
}

constexpr std::chrono::milliseconds kFinalsDeadline = std::chrono::minutes(10);
constexpr std::chrono::milliseconds kDeleteBackoffMax = std::chrono::seconds(5);
constexpr std::size_t kReplicateBatch = 256;
constexpr int kDeleters = 2;

}  // namespace

struct JetStreamSpool::PutJoin {
  std::string job_id;
  SpoolId spool;
  Done done;
  Clock::time_point started;
  std::atomic<int> left{2};
  Result<void> local;
  Result<std::vector<std::uint64_t>> stream = std::vector<std::uint64_t>{};
};

JetStreamSpool::JetStreamSpool(SpoolContext context)
    : ctx_(std::move(context)),
      options_(ctx_.options),
      local_(ctx_.local),
      stream_(spool_stream(ctx_.options.site)),
      intake_{.site = ctx_.options.site, .node = ctx_.options.node, .generation = 0},
      liveness_(Clock::now()) {}

JetStreamSpool::~JetStreamSpool() {
  close();
}

SpoolId JetStreamSpool::intake() const {
  std::lock_guard lock(mutex_);
  return intake_;
}

std::string JetStreamSpool::spool_id() const {
  return intake().text();
}

bool JetStreamSpool::may_deliver() const {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  return !reconciling_.load() && now < lease_until_ms_.load();
}

bool JetStreamSpool::owns(const std::string& job_id) const {
  std::lock_guard lock(mutex_);
  return !fenced_jobs_.contains(job_id);
}

Result<void> JetStreamSpool::open() {
  registry_id_ = next_registry_id();
  {
    std::lock_guard lock(registry_mutex());
    registry().emplace(registry_id_, this);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout.count();
  jo.PublishAsync.MaxPending = 1024;
  jo.PublishAsync.StallWait = 50;
  jo.PublishAsync.AckHandler = &on_ack;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast,performance-no-int-to-ptr)
  jo.PublishAsync.AckHandlerClosure = reinterpret_cast<void*>(registry_id_);
  if (natsStatus s = natsConnection_JetStream(&js_, ctx_.nats.raw(), &jo); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster spool: JetStream context"));
  }
  publisher_ = std::thread([this] { publisher_loop(); });
  deleters_.emplace_back([this] { deleter_loop(); });
  if (auto owned = open_ownership(); !owned) {
    return owned;
  }
  replicator_ = std::thread([this] { replicator_loop(); });
  for (int i = 1; i < kDeleters; ++i) {
    deleters_.emplace_back([this] { deleter_loop(); });
  }
  logger()->info("cluster: spool {} replicated to stream {} (publish timeout {} ms, {})",
                 intake().text(), stream_, options_.publish_timeout.count(),
                 options_.local_on_quorum_loss ? "local acceptance while the region is away"
                                               : "refusing what the region does not store");
  return {};
}

Result<void> JetStreamSpool::publish(const std::string& job_id,
                                     std::vector<PublishTracker::Part> parts,
                                     Clock::time_point deadline, PublishTracker::Done done,
                                     bool while_local_only) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    return make_error(ErrorCode::kUnavailable, "the spool is closing");
  }
  if (while_local_only && !local_only_.contains(job_id)) {
    return make_error(ErrorCode::kNotFound, "job " + job_id + " left the spool");
  }
  auto added = tracker_.add(
      std::move(parts), deadline,
      [this, job_id, done = std::move(done)](Result<std::vector<std::uint64_t>> r) {
        {
          std::lock_guard done_lock(mutex_);
          if (auto it = publishing_.find(job_id); it != publishing_.end() && --it->second == 0) {
            publishing_.erase(it);
          }
        }
        deleter_cv_.notify_all();
        owner_cv_.notify_all();  // a fenced node waits for puts on their way
        done(std::move(r));
      });
  if (added) {
    ++publishing_[job_id];
    publisher_cv_.notify_one();
  }
  return added;
}

void JetStreamSpool::put(const store::SpoolRecord& record, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      done(make_error(ErrorCode::kUnavailable, "the spool is closing"));
      return;
    }
  }
  const bool region = ctx_.region_answers();
  if (!region && !options_.local_on_quorum_loss) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    done(make_error(ErrorCode::kUnavailable,
                    "the region's quorum does not answer: a job only this node's disk would "
                    "hold is not accepted ([cluster] on_quorum_loss = \"refuse\")"));
    return;
  }
  SpoolId spool;
  {
    std::lock_guard lock(mutex_);
    local_jobs_.insert(record.job_id);
    spool = intake_;
  }
  // A job whose recipients alone are more than one message holds could never be stored (an
  // inline record is within a chunk's size; the limit is unknown before the first connection).
  const std::int64_t limit = max_payload();
  auto parts = job_parts(spool, record, limit);
  auto fits = [&]() -> Result<void> {
    if (parts.size() == 1 || limit <= 0) {
      return {};
    }
    return record_part_fits(parts.back().payload.size(), record.recipients.size(), limit);
  }();
  if (!fits) {
    {
      std::lock_guard lock(mutex_);
      local_jobs_.erase(record.job_id);
    }
    done(tl::unexpected(fits.error()));
    return;
  }
  auto join = std::make_shared<PutJoin>();
  join->job_id = record.job_id;
  join->spool = spool;
  join->done = std::move(done);
  join->started = Clock::now();
  local_.put(record, [this, join](Result<void> r) {
    join->local = std::move(r);
    if (join->left.fetch_sub(1) == 1) {
      finish_put(join);
    }
  });
  auto stream_done = [this, join](Result<std::vector<std::uint64_t>> r) {
    join->stream = std::move(r);
    if (join->left.fetch_sub(1) == 1) {
      finish_put(join);
    }
  };
  if (!region) {
    stream_done(make_error(ErrorCode::kUnavailable, "the region's quorum does not answer"));
    return;
  }
  if (auto added = publish(record.job_id, std::move(parts),
                           join->started + options_.publish_timeout, stream_done);
      !added) {
    stream_done(tl::unexpected(added.error()));
  }
}

void JetStreamSpool::take_back(const PutJoin& join) {
  {
    std::lock_guard lock(mutex_);
    deletions_.push_back({.job_id = join.job_id,
                          .spool = join.spool,
                          .what = Deletion::What::kStreamOnly,
                          .done = [](auto) {},
                          // a part the library may still hold lands first (its own timeout)
                          .not_before = Clock::now() + options_.timeout});
    local_jobs_.erase(join.job_id);
  }
  deleter_cv_.notify_one();
}

void JetStreamSpool::finish_put(const std::shared_ptr<PutJoin>& join) {
  if (!join->local) {
    if (join->stream) {
      take_back(*join);  // the region holds what the client is told failed
    }
    join->done(tl::unexpected(join->local.error()));
    return;
  }
  if (join->stream) {
    {
      std::lock_guard lock(mutex_);
      if (local_jobs_.contains(join->job_id)) {
        stored_[join->job_id].parts = *join->stream;
      }
    }
    replicated_.fetch_add(1, std::memory_order_relaxed);
    replication_latency_.record(Clock::now() - join->started);
    join->done({});
    return;
  }
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (options_.local_on_quorum_loss) {
    {
      std::lock_guard lock(mutex_);
      local_only_.insert(join->job_id);
    }
    replicator_cv_.notify_one();
    join->done({});
    return;
  }
  // Refused: the local copy goes, and so does anything a lost acknowledgement hid.
  logger()->warn("cluster: job {} refused: {}", join->job_id, join->stream.error().detail);
  local_.erase(join->job_id, [](auto) {});
  take_back(*join);
  join->done(make_error(ErrorCode::kUnavailable,
                        "the region did not store the job: " + join->stream.error().detail));
}

void JetStreamSpool::update_recipients(const std::string& job_id,
                                       const std::vector<store::SpoolRecipient>& recipients,
                                       Done done) {
  const std::size_t finals = final_count(recipients);
  std::optional<SpoolId> spool;  // where the grown final states go
  bool adopted = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = adopted_.find(job_id); it != adopted_.end()) {
      // A job taken over: its states live in memory and in the stream only.
      adopted = true;
      it->second.head.recipients = recipients;
      if (finals > it->second.finals_sent) {
        it->second.finals_sent = finals;
        spool = held_.at(it->second.spool_key).id;
      }
    } else if (auto& sent = finals_[job_id]; finals > sent) {
      sent = finals;
      spool = intake_;
    }
  }
  if (adopted) {
    done({});
  } else {
    local_.update_recipients(job_id, recipients, std::move(done));
  }
  if (spool) {
    publish_finals(*spool, job_id, recipients, finals, false);
  }
}

void JetStreamSpool::publish_finals(const SpoolId& spool, const std::string& job_id,
                                    const std::vector<store::SpoolRecipient>& recipients,
                                    std::size_t finals, bool done) {
  std::vector<PublishTracker::Part> parts;
  parts.push_back(
      {.subject = part_subject(spool, job_id, Part::kFinals),
       .msg_id = part_msg_id(spool, job_id, Part::kFinals, static_cast<std::uint32_t>(finals))
                 + (done ? "d" : ""),
       .payload = store::encode_recipients(recipients),
       .headers = {}});
  if (done) {
    parts.back().headers.emplace_back(kDoneHeader, "1");
  }
  auto added = publish(job_id, std::move(parts), Clock::now() + kFinalsDeadline,
                       [this, job_id](Result<std::vector<std::uint64_t>> r) {
                         if (r && !r->empty()) {
                           std::lock_guard lock(mutex_);
                           if (auto it = stored_.find(job_id); it != stored_.end()) {
                             // The newer state replaced the older in the stream.
                             it->second.finals = std::max(it->second.finals, r->back());
                           }
                         }
                         if (!r) {
                           logger()->warn(
                               "cluster: the final recipients of job {} did not reach the "
                               "region ({}); a takeover would try them again",
                               job_id, r.error().detail);
                         }
                       });
  if (!added && added.error().code != ErrorCode::kConflict) {
    logger()->warn("cluster: job {}: {}", job_id, added.error().detail);
  }
}

void JetStreamSpool::erase(const std::string& job_id, Done done) {
  std::optional<Adopted> tombstone;
  SpoolId tombstone_spool;
  {
    std::lock_guard lock(mutex_);
    auto it = adopted_.find(job_id);
    if (it == adopted_.end()) {
      finals_.erase(job_id);
      local_only_.erase(job_id);
      local_jobs_.erase(job_id);
      // Its sequences are read when the deletion runs: a final state still on its way then
      // has its sequence by that time (the deleter waits for it).
      deletions_.push_back({.job_id = job_id,
                            .spool = intake_,
                            .what = Deletion::What::kJob,
                            .done = std::move(done)});
      deleter_cv_.notify_one();
      return;
    }
    // A job taken over: its final states stay in the stream, marked done, for the node it was
    // taken from (which may come back and must not send it again); the record and chunks go.
    tombstone = it->second;
    tombstone_spool = held_.at(it->second.spool_key).id;
    finished_adopted_.insert(job_id);
    adopted_.erase(it);
  }
  // The tombstone is on its way before the deletion is queued: the deleter waits for it.
  publish_finals(tombstone_spool, job_id, tombstone->head.recipients,
                 tombstone->head.recipients.size(), true);
  {
    std::lock_guard lock(mutex_);
    deletions_.push_back({.job_id = job_id,
                          .spool = tombstone_spool,
                          .what = Deletion::What::kKeepFinals,
                          .done = std::move(done)});
  }
  deleter_cv_.notify_one();
}

Result<std::optional<store::SpoolRecord>> JetStreamSpool::get(const std::string& job_id) {
  std::optional<Adopted> adopted;
  {
    std::lock_guard lock(mutex_);
    if (auto it = adopted_.find(job_id); it != adopted_.end()) {
      adopted = it->second;
    }
  }
  if (!adopted) {
    return local_.get(job_id);
  }
  auto record = read_adopted(*adopted);
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      // Gone from the stream's leader: its former owner finished it (a lagging replica showed
      // the record to the takeover), or took it back. Nobody is to deliver it here.
      std::lock_guard lock(mutex_);
      if (auto it = adopted_.find(job_id); it != adopted_.end()) {
        logger()->warn("cluster: job {} taken over has left the stream; dropped", job_id);
        fenced_jobs_[job_id] = it->second.spool_key;
        adopted_.erase(it);
      }
    }
    return tl::unexpected(record.error());
  }
  return std::optional<store::SpoolRecord>(std::move(*record));
}

std::optional<Result<std::optional<store::SpoolRecord>>> JetStreamSpool::get_from_memory(
    const std::string& job_id) {
  {
    std::lock_guard lock(mutex_);
    if (adopted_.contains(job_id)) {
      return std::nullopt;  // in the stream: read on the worker pool
    }
  }
  return local_.get_from_memory(job_id);
}

Result<std::size_t> JetStreamSpool::scan(const std::function<bool(store::SpoolRecord&&)>& fn,
                                         const std::function<void(const Error&)>& on_corrupt,
                                         Messages messages) {
  std::vector<std::string> seen;
  auto n = local_.scan(
      [&fn, &seen](store::SpoolRecord&& r) {
        seen.push_back(r.job_id);
        return fn(std::move(r));
      },
      on_corrupt, messages);
  {
    std::lock_guard lock(mutex_);
    local_only_.insert(seen.begin(), seen.end());
    local_jobs_.insert(seen.begin(), seen.end());
    scanned_ = true;
  }
  replicator_cv_.notify_one();
  return n;
}

void JetStreamSpool::send(const PublishTracker::Part& part) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, part.subject.c_str(), nullptr, part.payload.data(),
                                static_cast<int>(part.payload.size()));
  for (const auto& [name, value] : part.headers) {
    if (s == NATS_OK) {
      s = natsMsgHeader_Set(msg, name.c_str(), value.c_str());
    }
  }
  if (s == NATS_OK) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.timeout.count();  // without it a lost ack stays pending for ever
    po.MsgId = part.msg_id.c_str();
    // The stream of the subject's site (a job taken over lives in its former owner's).
    const std::string stream = spool_stream(subject_site(part.subject));
    po.ExpectStream = stream.c_str();
    s = js_PublishMsgAsync(js_, &msg, &po);
  }
  natsMsg_Destroy(msg);  // null once the library took it
  if (s != NATS_OK) {
    // Not sent (disconnected; MaxPending reached): the same again later. Over the server's
    // max_payload (put() refuses such a job; the server's limit may have changed): never.
    std::lock_guard lock(mutex_);
    tracker_.on_error(part.msg_id,
                      s == NATS_MAX_PAYLOAD ? PublishTracker::Failure::kPermanent
                                            : PublishTracker::Failure::kTransient,
                      natsStatus_GetText(s), Clock::now());
  }
}

void JetStreamSpool::acknowledged(natsMsg* msg, const jsPubAck* pa, const jsPubAckErr* pae) {
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || id == nullptr) {
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (pa != nullptr) {
      tracker_.on_ack(id, pa->Sequence);
    } else if (pae != nullptr) {
      const std::string why =
          pae->ErrText != nullptr ? std::string(pae->ErrText) : natsStatus_GetText(pae->Err);
      logger()->debug("cluster: publish {} failed: {} (status {}, error {})", id, why,
                      static_cast<int>(pae->Err), static_cast<int>(pae->ErrCode));
      tracker_.on_error(id,
                        permanent(pae->ErrCode) ? PublishTracker::Failure::kPermanent
                                                : PublishTracker::Failure::kTransient,
                        why, Clock::now());
    }
  }
  publisher_cv_.notify_one();
}

void JetStreamSpool::publisher_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    const auto now = Clock::now();
    tracker_.expire(now);
    auto due = tracker_.due(now);
    auto completed = tracker_.take_completed();
    publishing_groups_.store(tracker_.groups(), std::memory_order_relaxed);
    publishing_bytes_.store(tracker_.bytes(), std::memory_order_relaxed);
    resends_.store(tracker_.resends(), std::memory_order_relaxed);
    if (due.empty() && completed.empty()) {
      if (stopping_ && tracker_.groups() == 0) {
        return;
      }
      const auto wake = tracker_.next_wake();
      const auto wait = wake ? std::clamp<Clock::duration>(*wake - now, Clock::duration::zero(),
                                                           std::chrono::seconds(1))
                             : Clock::duration(std::chrono::seconds(1));
      publisher_cv_.wait_for(lock, wait);
      continue;
    }
    lock.unlock();
    for (auto& [done, result] : completed) {
      done(std::move(result));
    }
    for (const auto& part : due) {
      send(*part);
    }
    lock.lock();
  }
}

void JetStreamSpool::replicator_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::vector<std::string> batch;
    if (ctx_.region_answers()) {
      for (const auto& id : local_only_) {
        if (batch.size() == kReplicateBatch) {
          break;
        }
        if (!replicating_.contains(id)) {
          batch.push_back(id);
        }
      }
    }
    if (batch.empty()) {
      if (ctx_.region_answers() && sweep_due(Clock::now())) {
        lock.unlock();
        sweep_orphans();
        lock.lock();
        continue;
      }
      replicator_cv_.wait_for(lock, std::chrono::seconds(1));
      continue;
    }
    replicating_.insert(batch.begin(), batch.end());
    lock.unlock();
    auto left = std::make_shared<std::atomic<std::size_t>>(batch.size());
    for (const auto& id : batch) {
      auto done = [this, id, left](const Result<std::vector<std::uint64_t>>& r) {
        {
          std::lock_guard done_lock(mutex_);
          replicating_.erase(id);
          if (r) {
            local_only_.erase(id);
          }
        }
        if (left->fetch_sub(1) == 1) {
          replicator_cv_.notify_one();
        }
      };
      auto record = local_.get(id);
      if (!record || !*record) {
        done(std::vector<std::uint64_t>{});  // gone (finished, erased) or unreadable
        continue;
      }
      if (auto fits = job_fits(**record, max_payload()); !fits) {
        // Accepted locally before intake refused such jobs: never storable in the stream.
        logger()->error("cluster: job {} stays on this node's disk alone: {}", id,
                        fits.error().detail);
        done(std::vector<std::uint64_t>{});
        continue;
      }
      // Only while it is still to replicate: a job erased meanwhile would stay in the stream.
      if (auto added = publish(id, job_parts(intake(), **record, max_payload()),
                               Clock::now() + options_.publish_timeout, done, true);
          !added) {
        done(added.error().code == ErrorCode::kNotFound ? Result<std::vector<std::uint64_t>>{}
                                                        : tl::unexpected(added.error()));
      }
    }
    lock.lock();
    // One batch at a time: wait until this one is through before the next.
    while (!stopping_ && *left != 0) {
      replicator_cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
}

Result<void> JetStreamSpool::barrier(const SpoolId& spool, const std::string& job_id) {
  const std::string stream = spool_stream(spool.site);
  const std::string subject = job_subject(spool, job_id) + ".x";
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.timeout.count();
  po.ExpectStream = stream.c_str();
  jsPubAck* pa = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&pa, js_, subject.c_str(), nullptr, 0, &po, &jerr);
  jsPubAck_Destroy(pa);
  if (s != NATS_OK) {
    return tl::unexpected(
        nats_error(s, "cluster spool: removing job " + job_id + " from " + stream));
  }
  return {};
}

Result<void> JetStreamSpool::purge(Deletion& d) {
  if (d.what == Deletion::What::kJob && !d.sequences.empty()) {
    auto missing = delete_sequences(d.spool.site, d.sequences, "job " + d.job_id);
    if (!missing) {
      return tl::unexpected(missing.error());
    }
    if (*missing == 0) {
      return {};
    }
    // A part stored again after its sequence was known (a resend landing when a quorum came
    // back) replaced it under a new sequence: look the job up as below.
  }
  // Looked up, never purged by subject (2.9.10 replays a filtered purge at its next start as a
  // purge of all before it). A lookup is a read, which Raft does not order: a barrier written
  // first is applied after every part still proposed. A full stream refuses it (every write,
  // not deletes): the parts go anyway, once, to free the room; not a taken-over job's (its
  // tombstone may have been refused).
  auto b = barrier(d.spool, d.job_id);
  if (!b
      && (b.error().code == ErrorCode::kUnavailable || d.deleted_unbarriered
          || d.what == Deletion::What::kKeepFinals)) {
    return b;
  }
  auto found = stream_sequences(d.spool, job_subject(d.spool, d.job_id) + ".>",
                                d.what == Deletion::What::kKeepFinals);
  if (!found) {
    return tl::unexpected(found.error());
  }
  if (auto removed = delete_sequences(d.spool.site, *found, "job " + d.job_id); !removed) {
    return tl::unexpected(removed.error());
  }
  d.deleted_unbarriered = !b;
  return b;
}

void JetStreamSpool::deleter_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    // The first deletion that may go: its time has come and no part of its job is still on
    // its way (a part stored after the purge would outlive the job in the stream).
    auto it = std::find_if(deletions_.begin(), deletions_.end(), [&](const Deletion& d) {
      return d.not_before <= now && !publishing_.contains(d.job_id);
    });
    if (it == deletions_.end()) {
      deleter_cv_.wait_for(lock, std::chrono::milliseconds(deletions_.empty() ? 1000 : 50));
      continue;
    }
    Deletion d = std::move(*it);
    deletions_.erase(it);
    if (d.what == Deletion::What::kJob) {
      if (auto known = stored_.find(d.job_id); known != stored_.end()) {
        d.sequences = std::move(known->second.parts);
        if (known->second.finals != 0) {
          d.sequences.push_back(known->second.finals);
        }
        stored_.erase(known);
      }
    }
    lock.unlock();
    auto purged = purge(d);
    if (purged) {
      if (d.what == Deletion::What::kJob) {
        local_.erase(d.job_id, std::move(d.done));
      } else {
        d.done({});
      }
      lock.lock();
      continue;
    }
    d.backoff = d.backoff.count() == 0 ? std::chrono::milliseconds(200)
                                       : std::min(d.backoff * 2, kDeleteBackoffMax);
    d.not_before = Clock::now() + d.backoff;
    if (d.backoff == kDeleteBackoffMax) {
      logger()->warn("{} (trying again)", purged.error().detail);
    }
    lock.lock();
    deletions_.push_back(std::move(d));
  }
}

void JetStreamSpool::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      return;
    }
    closing_ = true;
  }
  // Puts already taken finish (each within publish_timeout); other publishes get as long.
  if (js_ != nullptr) {
    std::unique_lock lock(mutex_);
    const auto until = Clock::now() + options_.publish_timeout;
    while (tracker_.groups() > 0 && Clock::now() < until) {
      publisher_cv_.notify_one();
      replicator_cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    tracker_.expire(Clock::time_point::max());
    stopping_ = true;
  } else {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  publisher_cv_.notify_all();
  replicator_cv_.notify_all();
  deleter_cv_.notify_all();
  owner_cv_.notify_all();
  for (auto* t : {&publisher_, &replicator_, &owner_, &adopter_}) {
    if (t->joinable()) {
      t->join();
    }
  }
  for (auto& t : deleters_) {
    t.join();
  }
  deleters_.clear();
  {
    std::lock_guard lock(registry_mutex());
    registry().erase(registry_id_);
  }
  jsCtx_Destroy(js_);
  js_ = nullptr;
  if (nodes_) {
    nodes_->unwatch(nodes_watch_);
  }
  // Their watch threads end here: no callback reaches this object after close().
  nodes_.reset();
  owners_.reset();
  std::size_t left = 0;
  {
    std::lock_guard lock(mutex_);
    left = deletions_.size();
    for (auto& d : deletions_) {
      if (d.what != Deletion::What::kJob) {
        d.done({});
        continue;
      }
      // The local copy stays; at the next start the job is found finished and erased again.
      d.done(make_error(ErrorCode::kUnavailable, "the spool closed before the region answered"));
    }
    deletions_.clear();
  }
  if (left > 0) {
    logger()->info("cluster: {} finished jobs wait in the stream until the next start", left);
  }
}

ClusterSpoolStats JetStreamSpool::stats() const {
  ClusterSpoolStats s;
  s.replicated_jobs = replicated_.load(std::memory_order_relaxed);
  s.replication_failures = failures_.load(std::memory_order_relaxed);
  s.publish_resends = resends_.load(std::memory_order_relaxed);
  s.publishing = publishing_groups_.load(std::memory_order_relaxed);
  s.publishing_bytes = publishing_bytes_.load(std::memory_order_relaxed);
  s.takeovers = takeovers_.load(std::memory_order_relaxed);
  s.adopted_jobs = adopted_jobs_.load(std::memory_order_relaxed);
  s.fenced = fenced_.load(std::memory_order_relaxed);
  s.orphans_removed = orphans_removed_.load(std::memory_order_relaxed);
  s.lease = may_deliver();
  std::lock_guard lock(mutex_);
  s.local_only_jobs = local_only_.size();
  s.stream_pending = deletions_.size();
  s.spools_held = held_.size();
  return s;
}

}  // namespace txmail::cluster
