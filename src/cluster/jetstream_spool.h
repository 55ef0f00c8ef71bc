// JetStreamSpool: the ClusterSpool of cluster.h. Internal to the cluster module.
//
// Threads: a publisher sends every part through the JetStream context's asynchronous publish
// and runs completions; the library's thread only records acknowledgements (it must never
// publish itself: NATS.md section 2). A replicator sends again what the region did not store
// (jobs accepted on the local disk alone, and every job found at start). Two deleters remove
// finished jobs from the stream, then from the local spool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "cluster/cluster.h"
#include "cluster/nats_connection.h"
#include "cluster/publish_tracker.h"
#include "cluster/spool_subjects.h"

namespace txmail::cluster {

class JetStreamSpool final : public ClusterSpool {
 public:
  // `region_answers`: false once the region's quorum has been silent past the grace period.
  JetStreamSpool(NatsConnection& nats, const ClusterOptions& options, store::Spool& local,
                 std::function<bool()> region_answers);
  ~JetStreamSpool() override;
  JetStreamSpool(const JetStreamSpool&) = delete;
  JetStreamSpool& operator=(const JetStreamSpool&) = delete;
  JetStreamSpool(JetStreamSpool&&) = delete;
  JetStreamSpool& operator=(JetStreamSpool&&) = delete;

  Result<void> start();

  void put(const store::SpoolRecord& record, Done done) override;
  void update_recipients(const std::string& job_id,
                         const std::vector<store::SpoolRecipient>& recipients, Done done) override;
  void erase(const std::string& job_id, Done done) override;

  Result<std::optional<store::SpoolRecord>> get(const std::string& job_id) override {
    return local_.get(job_id);
  }

  std::optional<Result<std::optional<store::SpoolRecord>>> get_from_memory(
      const std::string& job_id) override {
    return local_.get_from_memory(job_id);
  }

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

  ClusterSpoolStats stats() const override;

  const Histogram& replication_latency() const override { return replication_latency_; }

  std::string spool_id() const override { return spool_.text(); }

  // The library's acknowledgement callback (see the registry in jetstream_spool.cc).
  void acknowledged(natsMsg* msg, const jsPubAck* pa, const jsPubAckErr* pae);

 private:
  struct PutJoin;

  struct Deletion {
    std::string job_id;
    bool erase_local = true;  // false: the local copy is gone already
    Done done;
    Clock::time_point not_before{};
    std::chrono::milliseconds backoff{0};
  };

  std::vector<PublishTracker::Part> job_parts(const store::SpoolRecord& record) const;
  // Adds a group under mutex_, counting it against its job until it completes. With
  // `while_local_only`, only if the job still waits for replication (else kNotFound).
  Result<void> publish(const std::string& job_id, std::vector<PublishTracker::Part> parts,
                       Clock::time_point deadline, PublishTracker::Done done,
                       bool while_local_only = false);
  void finish_put(const std::shared_ptr<PutJoin>& join);
  void send(const PublishTracker::Part& part);

  void publisher_loop();
  void replicator_loop();
  void deleter_loop();
  Result<void> purge(const std::string& job_id);

  NatsConnection& nats_;
  const ClusterOptions options_;
  store::Spool& local_;
  std::function<bool()> region_answers_;
  const SpoolId spool_;
  const std::string stream_;
  jsCtx* js_ = nullptr;
  std::uintptr_t registry_id_ = 0;

  mutable std::mutex mutex_;  // everything below up to the threads
  std::condition_variable publisher_cv_;
  std::condition_variable replicator_cv_;
  std::condition_variable deleter_cv_;
  PublishTracker tracker_;
  std::unordered_map<std::string, int> publishing_;      // job id -> groups on their way
  std::unordered_map<std::string, std::size_t> finals_;  // job id -> final recipients sent
  std::set<std::string> local_only_;                     // jobs the region does not hold yet
  std::set<std::string> replicating_;                    // of those, being sent now
  std::deque<Deletion> deletions_;
  bool closing_ = false;
  bool stopping_ = false;

  std::atomic<std::uint64_t> replicated_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> resends_{0};
  std::atomic<std::uint64_t> publishing_groups_{0};
  std::atomic<std::uint64_t> publishing_bytes_{0};
  Histogram replication_latency_;

  std::thread publisher_;
  std::thread replicator_;
  std::vector<std::thread> deleters_;
};

}  // namespace txmail::cluster
