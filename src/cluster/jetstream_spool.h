// JetStreamSpool: the ClusterSpool of cluster.h. Internal to the cluster module.
//
// Threads: a publisher sends every part through the JetStream context's asynchronous publish
// and runs completions; the library's thread only records acknowledgements (it must never
// publish itself: NATS.md section 2). A replicator sends again what the region did not store
// (jobs accepted on the local disk alone, and every job found at start). Two deleters remove
// finished jobs from the stream, then from the local spool. An owner thread keeps the lease,
// notices a fence, takes dead nodes' spools over and rebuilds them (spool_ownership.cc,
// spool_adoption.cc). The replicator also sweeps the own generation's subjects for jobs left
// behind (spool_adoption.cc).
//
// Jobs of this node's own generation live in the local spool; jobs taken over live in memory
// (envelope and recipient states) and in the stream (the message, read when it is delivered).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cluster/cluster.h"
#include "cluster/kv_config_store.h"
#include "cluster/liveness.h"
#include "cluster/nats_connection.h"
#include "cluster/publish_tracker.h"
#include "cluster/spool_subjects.h"

namespace txmail::cluster {

// On a job's final states: every recipient is final (the job was finished by a node that took
// it over; the record is gone).
inline constexpr const char* kDoneHeader = "Txmail-Done";

// What the spool needs of the node it runs in.
struct SpoolContext {
  NatsConnection& nats;
  ClusterOptions options;
  store::Spool& local;
  std::string data_dir;
  // False once the region's quorum has been silent past the grace period.
  std::function<bool()> region_answers;
  // Steady milliseconds of the last heartbeat the region stored.
  std::function<std::int64_t()> last_beat_ms;
  // What the heartbeat says of the spool from now on (the generation, counts).
  std::function<void(std::string)> announce;
  // The region's shared configuration (where `cluster init` wrote each site's server name).
  store::ConfigStore& config;
  // The nodes judged dead whose spool this node holds now (each round of the owner thread):
  // the node that delivers a dead node's jobs also queues its events' notifications.
  std::function<void(std::vector<std::string>)> dead_held;
};

class JetStreamSpool final : public ClusterSpool {
 public:
  explicit JetStreamSpool(SpoolContext context);
  ~JetStreamSpool() override;
  JetStreamSpool(const JetStreamSpool&) = delete;
  JetStreamSpool& operator=(const JetStreamSpool&) = delete;
  JetStreamSpool(JetStreamSpool&&) = delete;
  JetStreamSpool& operator=(JetStreamSpool&&) = delete;

  // Binds the buckets, settles this node's generation (reconciling after a fence) and starts
  // the publishing threads. Before recovery.
  Result<void> open();
  void start(SpoolHooks hooks) override;

  void put(const store::SpoolRecord& record, Done done) override;
  Result<void> admits(const store::SpoolRecord& record) const override;
  std::optional<std::size_t> head_limit() const override;
  void update_recipients(const std::string& job_id,
                         const std::vector<store::SpoolRecipient>& recipients, Done done) override;
  void erase(const std::string& job_id, Done done) override;
  Result<std::optional<store::SpoolRecord>> get(const std::string& job_id) override;
  std::optional<Result<std::optional<store::SpoolRecord>>> get_from_memory(
      const std::string& job_id) override;
  // Recovery: besides visiting the local jobs, queues each for replication, so that what was
  // accepted while the region was away (on_quorum_loss = "local"), or whose publish a crash
  // cut short, reaches the stream. A job already there is replaced by the same (the stream
  // keeps one message per subject).
  Result<std::size_t> scan(const std::function<bool(store::SpoolRecord&&)>& fn,
                           const std::function<void(const Error&)>& on_corrupt,
                           Messages messages) override;

  void queue_size_hint(std::size_t jobs) override { local_.queue_size_hint(jobs); }

  void close() override;

  bool accepting() const override { return local_.accepting(); }

  bool may_deliver() const override;
  bool owns(const std::string& job_id) const override;

  ClusterSpoolStats stats() const override;

  const Histogram& replication_latency() const override { return replication_latency_; }

  std::string spool_id() const override;

  // The library's acknowledgement callback (see the registry in jetstream_spool.cc).
  void acknowledged(natsMsg* msg, const jsPubAck* pa, const jsPubAckErr* pae);

 private:
  struct PutJoin;

  struct Deletion {
    std::string job_id;
    SpoolId spool;
    enum class What : std::uint8_t {
      kJob,         // every part, then the local copy
      kStreamOnly,  // every part (the local copy is gone already)
      kKeepFinals,  // a job taken over: record and chunks; its final states stay as a
                    // tombstone until the former owner has reconciled
    } what = What::kJob;
    Done done;
    Clock::time_point not_before{};
    std::chrono::milliseconds backoff{0};
    // The stream sequences of every part, when this process stored them all (then each is
    // deleted by its sequence, which the server finds at once; else a purge by subject).
    std::vector<std::uint64_t> sequences{};
    bool deleted_unbarriered = false;  // see purge(): once per deletion
  };

  // A spool this node owns: its own generation, or one taken over.
  struct Held {
    SpoolId id;
    std::uint64_t revision = 0;
    bool adopted = false;
    bool rebuilt = false;          // adopted: its jobs are in the queue
    bool empty_in_stream = false;  // adopted: the last look found no record left
    Clock::time_point claimed{};
  };

  // A job taken over: what the queue needs, and where the message is.
  struct Adopted {
    std::string spool_key;
    store::SpoolRecord head;  // recipients as they are now; no message
    std::uint32_t chunks = 0;
    std::uint64_t size = 0;
    std::string sha256;
    std::size_t finals_sent = 0;
  };

  // A record read back from the stream.
  struct StreamRecord {
    store::SpoolRecord record;  // with the message when it was inline
    std::uint32_t chunks = 0;
    std::uint64_t size = 0;
    std::string sha256;
  };

  // --- intake and publishing (jetstream_spool.cc)
  std::int64_t max_payload() const;
  // Adds a group under mutex_, counting it against its job until it completes. With
  // `while_local_only`, only if the job still waits for replication (else kNotFound).
  Result<void> publish(const std::string& job_id, std::vector<PublishTracker::Part> parts,
                       Clock::time_point deadline, PublishTracker::Done done,
                       bool while_local_only = false);
  // `done`: the job is finished here (a taken-over job's tombstone, kDoneHeader).
  void publish_finals(const SpoolId& spool, const std::string& job_id,
                      const std::vector<store::SpoolRecipient>& recipients, std::size_t finals,
                      bool done);
  void finish_put(const std::shared_ptr<PutJoin>& join);
  // A put the client is told failed: whatever of it the stream holds is purged.
  void take_back(const PutJoin& join);
  void send(const PublishTracker::Part& part);
  void publisher_loop();
  void replicator_loop();
  void deleter_loop();
  Result<void> purge(Deletion& d);
  // An empty message on the job's "….x" subject, acknowledged: every write proposed to the
  // stream before it has been applied by its leader.
  Result<void> barrier(const SpoolId& spool, const std::string& job_id);
  SpoolId intake() const;

  // --- ownership (spool_ownership.cc)
  Result<void> open_ownership();  // in open(): buckets, generation, reconciliation
  static std::string owner_key(const SpoolId& spool);
  static std::optional<SpoolId> parse_owner_key(std::string_view key);
  std::string owner_value(const std::string& kind, const std::string& from) const;

  // <data_dir>/cluster-spool.json: the generation this node writes, and the one it was fenced
  // from while its local jobs are not yet sorted out (0: none).
  struct SpoolState {
    std::uint64_t generation = 0;
    std::uint64_t reconcile_from = 0;
  };

  Result<SpoolId> new_generation(std::uint64_t at_least, std::uint64_t reconcile_from);
  Result<void> write_state(std::uint64_t generation, std::uint64_t reconcile_from) const;
  SpoolState read_state() const;
  Result<void> reconcile_at_start(const SpoolId& old);
  void owner_loop();
  void adopter_loop();
  void confirm_lease();
  void take_over_dead();
  std::vector<std::string> dead_held();
  void on_fenced(const std::string& key, const Held& held);
  // Waits (up to node_timeout) for a heartbeat stored from now on; false when closing.
  bool wait_for_own_beat();
  // Drops the local jobs of `old` the region holds (another node delivers them) and keeps the
  // rest for the current generation. False when the stream could not answer for every job.
  bool reconcile(const SpoolId& old, const std::vector<std::string>& jobs);
  void observe_node(const store::ConfigChange& change);
  void announce();
  // Keeps this site's spool stream led from this site's server (cluster.h, kServersKey).
  void lead_from_home();

  // --- jobs taken over (spool_adoption.cc)
  // `undecodable`: how many records did not decode (skipped, logged). A spool with such a record
  // is never taken as empty: the record may be a job a newer release wrote.
  Result<std::vector<StreamRecord>> read_records(const SpoolId& spool, bool with_messages,
                                                 std::size_t& undecodable);
  Result<std::map<std::string, std::vector<store::SpoolRecipient>>> read_finals(
      const SpoolId& spool);
  // The stream sequences of every message on `filter` in `spool`'s stream (`keep_finals`: but
  // its final states), read from the stream's leader.
  Result<std::vector<std::uint64_t>> stream_sequences(const SpoolId& spool,
                                                      const std::string& filter, bool keep_finals);
  // How many of `sequences` were not there (removed already, or replaced by a newer message).
  Result<std::size_t> delete_sequences(const std::string& site,
                                       const std::vector<std::uint64_t>& sequences,
                                       const std::string& what);
  enum class InStream : std::uint8_t { kRecord, kFinished, kAbsent };
  Result<InStream> look_up(const SpoolId& spool, const std::string& job_id);
  Result<store::SpoolRecord> read_adopted(const Adopted& job);
  // Reads every job of the site's spool stream. Of the own generation, removes the jobs nothing
  // here accounts for (a put refused but stored when a quorum returned, a purge that missed a
  // part) seen twice in a row; of other generations, those of a retired spool (a replica that
  // missed their removal and leads the stream now shows them again). The replicator's thread;
  // sweep_due() (under mutex_) says when.
  void sweep_orphans();

  struct SweptSpool {
    SpoolId spool;
    std::set<std::string> jobs;
  };

  void remove_orphans(const SpoolId& spool, const std::set<std::string>& unaccounted);
  void remove_retired(const std::map<std::string, SweptSpool>& others);
  // Queues the removal of `jobs` of `spool` from the stream (and counts them).
  void remove_from_stream(const SpoolId& spool, std::vector<std::string> jobs);
  bool sweep_due(Clock::time_point now) const;
  // Rebuilds a held spool's jobs from the stream, or (`poll`) adds the ones not seen yet.
  Result<void> adopt(const std::string& key, bool poll);
  void retire_adopted();

  SpoolContext ctx_;
  const ClusterOptions& options_;
  store::Spool& local_;
  const std::string stream_;
  jsCtx* js_ = nullptr;
  std::uintptr_t registry_id_ = 0;
  std::unique_ptr<KvConfigStore> owners_;
  std::unique_ptr<KvConfigStore> nodes_;
  std::uint64_t nodes_watch_ = 0;

  mutable std::mutex mutex_;  // everything below up to the counters
  std::condition_variable publisher_cv_;
  std::condition_variable replicator_cv_;
  std::condition_variable deleter_cv_;
  std::condition_variable owner_cv_;
  SpoolId intake_;
  PublishTracker tracker_;
  std::unordered_map<std::string, int> publishing_;      // job id -> groups on their way
  std::unordered_map<std::string, std::size_t> finals_;  // job id -> final recipients sent

  // Job id -> the stream sequences of its record and chunks, and of its latest final states
  // (0: none published), for the jobs this process stored.
  struct Stored {
    std::vector<std::uint64_t> parts;
    std::uint64_t finals = 0;
  };

  std::unordered_map<std::string, Stored> stored_;
  std::set<std::string> local_only_;            // jobs the region does not hold yet
  std::set<std::string> replicating_;           // of those, being sent now
  std::unordered_set<std::string> local_jobs_;  // of the own generation
  // Jobs another node delivers now -> the owner key of the spool they belonged to (cleared if
  // this node owns that spool again).
  std::unordered_map<std::string, std::string> fenced_jobs_;
  std::deque<Deletion> deletions_;
  // The sweep (replicator thread): the jobs found unaccounted for in `swept_` last time.
  SpoolId swept_;
  std::unordered_set<std::string> suspects_;
  Clock::time_point next_sweep_{};
  bool scanned_ = false;              // the local spool's jobs are known here (no sweep before)
  std::map<std::string, Held> held_;  // by owner key
  std::unordered_map<std::string, Adopted> adopted_;
  std::unordered_set<std::string> finished_adopted_;
  LivenessTable liveness_;
  std::map<std::string, std::string> node_site_;
  std::map<std::string, std::uint64_t> node_generation_;
  std::map<std::string, Clock::time_point> dead_since_;  // owner key -> owner judged dead
  SpoolHooks hooks_;
  bool started_ = false;
  bool closing_ = false;
  bool stopping_ = false;

  std::atomic<bool> reconciling_{false};
  std::atomic<std::int64_t> lease_until_ms_{0};  // steady
  std::atomic<std::uint64_t> replicated_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> resends_{0};
  std::atomic<std::uint64_t> publishing_groups_{0};
  std::atomic<std::uint64_t> publishing_bytes_{0};
  std::atomic<std::uint64_t> takeovers_{0};
  std::atomic<std::uint64_t> adopted_jobs_{0};
  std::atomic<std::uint64_t> fenced_{0};
  std::atomic<std::uint64_t> orphans_removed_{0};
  Histogram replication_latency_;

  std::thread publisher_;
  std::thread replicator_;
  std::vector<std::thread> deleters_;
  std::thread owner_;
  std::thread adopter_;
};

}  // namespace txmail::cluster
