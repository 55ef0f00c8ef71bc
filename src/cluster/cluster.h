// The cluster module's face to the rest of txmail (DESIGN.md sections 4 and 5; docs/cluster.md):
// a node's membership of a region on NATS JetStream. Nothing here names a NATS type, so the
// layers above never include <nats/nats.h>.
//
// A region is two sites plus a witness, each with one nats-server, tagged "site:<name>".
// `txmail cluster init` creates the region's buckets once (provision); a serving node joins
// (ClusterNode): it reads the shared configuration from an in-memory snapshot, heartbeats in
// the nodes bucket, and knows whether the region's quorum answers (readiness).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/idempotency.h"
#include "common/histogram.h"
#include "common/result.h"
#include "events/webhooks.h"
#include "store/config_store.h"
#include "store/spool.h"
#include "tenancy/rate_limiter.h"

namespace txmail::events {
class SqliteEventLog;
}  // namespace txmail::events

namespace txmail::cluster {

inline constexpr const char* kConfigBucket = "txmail_config";  // accounts, domains, keys, ...
inline constexpr const char* kNodesBucket = "txmail_nodes";    // heartbeats of serving nodes
inline constexpr const char* kSpoolsBucket = "txmail_spools";  // who owns each node's spool
// Idempotency-Key answers of POST /v2/jobs for 24 h (kv_idempotency.h).
inline constexpr const char* kIdempotencyBucket = "txmail_idempotency";
// Each node's count of requests per account and 5-minute window (kv_rate_limiter.h).
inline constexpr const char* kRatesBucket = "txmail_rates";
// How far each node's events were made into push notification batches (region_hooks.h).
inline constexpr const char* kReadersBucket = "txmail_readers";
// In the config bucket: each data site's nats-server name, {"a": "A", ...}, found by `cluster
// init`. A site's spool stream should be led from its own site: then losing the witness or the
// other site costs the stream no election, and the site's intake does not stall.
inline constexpr const char* kServersKey = "cluster/servers";
// The spool streams' duplicate window: longer than any resend of one job (publish_timeout is
// at most 60 s), so a job sent again is stored once.
inline constexpr std::chrono::seconds kSpoolDuplicates{120};

struct ClusterOptions {
  std::vector<std::string> nats;  // the region's servers, the node's own site first
  std::string user;
  std::string password;
  std::string creds_file;
  std::string ca_file;
  std::string home_domain;  // JetStream domain where configuration is written; "" = this one
  std::string node;
  std::string site;
  std::string region;
  // The region's data sites: `cluster init` makes one spool stream for each.
  std::vector<std::string> sites;
  int replicas = 3;  // of every bucket; 1 only for a one-server trial
  // How long the region may fail to answer before the node stops taking traffic.
  std::chrono::milliseconds quorum_grace = std::chrono::seconds(15);
  std::chrono::milliseconds timeout = std::chrono::seconds(5);         // each request
  std::chrono::milliseconds start_timeout = std::chrono::seconds(30);  // the first snapshot
  bool heartbeat = true;  // false for a command that reads or writes configuration and exits
  // A node whose heartbeat has not changed for this long is dead: its spool is taken over. A
  // node delivers only while the region confirmed its ownership within half of it (its lease).
  std::chrono::milliseconds node_timeout = std::chrono::seconds(10);
  // How long a job may wait for the region to store it before intake gives up on it.
  std::chrono::milliseconds publish_timeout = std::chrono::seconds(10);
  // on_quorum_loss = "local": acknowledge on the local sync alone while the region does not
  // answer, and replicate when it does.
  bool local_on_quorum_loss = false;
};

// What the replicated spool has done (any thread, cheap; for /metrics and status).
struct ClusterSpoolStats {
  std::uint64_t takeovers = 0;             // spools claimed from a dead node (counter)
  std::uint64_t adopted_jobs = 0;          // jobs taken over (counter)
  std::uint64_t fenced = 0;                // times this node found its spool taken (counter)
  std::uint64_t spools_held = 0;           // its own generation plus those taken over
  bool lease = false;                      // may deliver now
  std::uint64_t replicated_jobs = 0;       // puts the region stored (counter)
  std::uint64_t publish_resends = 0;       // parts sent again after a timeout (counter)
  std::uint64_t replication_failures = 0;  // puts the region did not store in time (counter)
  std::uint64_t local_only_jobs = 0;       // accepted on the local disk alone, to replicate
  std::uint64_t stream_pending = 0;        // finished jobs whose stream entries wait to go
  std::uint64_t orphans_removed = 0;       // jobs the sweep found left in the stream (counter)
  std::uint64_t publishing = 0;            // groups of parts on their way to the region
  std::uint64_t publishing_bytes = 0;
};

// What the copying of events between the region's nodes has done (any thread, cheap).
struct ClusterEventStats {
  std::uint64_t published = 0;          // this node's events the region stored (counter)
  std::uint64_t publish_failures = 0;   // rounds the region did not store in time (counter)
  std::int64_t published_position = 0;  // the log's seq up to which the region has them
  std::uint64_t imported = 0;           // other nodes' events copied here (counter)
  std::uint64_t import_pending = 0;     // stream messages not yet copied here (lag)
  std::int64_t import_lag_ms = 0;       // the newest copied event's age when it was copied
  // Acceptances answered before the region had their events: it did not store them within
  // [cluster] timeout (they are on this node's disk and go out with a later round).
  std::uint64_t answered_unpublished = 0;
};

// The region's events stream (issue site-3, item 1; event_replication.h).
class ClusterEvents {
 public:
  ClusterEvents() = default;
  virtual ~ClusterEvents() = default;
  ClusterEvents(const ClusterEvents&) = delete;
  ClusterEvents& operator=(const ClusterEvents&) = delete;
  ClusterEvents(ClusterEvents&&) = delete;
  ClusterEvents& operator=(ClusterEvents&&) = delete;

  virtual ClusterEventStats stats() const = 0;
};

// What the replicated spool asks of the delivery engine.
struct SpoolHooks {
  // Jobs taken over from another node (their recipients already final are marked so).
  std::function<void(std::vector<store::SpoolRecord>)> adopt;
};

// The cluster spool (issue site-2): the node's local spool, synced as in embedded mode, plus
// the stream TXMAIL_SPOOL_<site>, R3 across the region's sites. A put completes when both hold
// the job; recipients that become final are published too; a finished job leaves the stream
// before it leaves the local disk. The local spool must outlive it.
//
// Ownership: the node's jobs go to a generation of its spool, <site>/<node>/<n>, owned through
// a key of the spools bucket changed only by compare-and-set (its revision is the fencing
// token). When a node's heartbeat stops for node_timeout, one node of the region claims its
// spool, rebuilds the jobs from the stream and delivers the recipients not yet final. A node
// that finds its generation claimed stops delivering it, keeps only what the region never
// had, and goes on with a new generation.
class ClusterSpool : public store::Spool {
 public:
  // After recovery (the delivery engine has the local jobs): takeovers may start.
  virtual void start(SpoolHooks hooks) = 0;
  virtual ClusterSpoolStats stats() const = 0;
  // From put to the region's acknowledgement of every part.
  virtual const Histogram& replication_latency() const = 0;
  // "<site>/<node>/<generation>": where this node's jobs are in the stream.
  virtual std::string spool_id() const = 0;
};

class ClusterNode {
 public:
  // Connects (retrying in the background), loads the configuration snapshot (an error when it
  // cannot within start_timeout) and starts the heartbeat.
  static Result<std::unique_ptr<ClusterNode>> join(const ClusterOptions& options);
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;
  ClusterNode(ClusterNode&&) = delete;
  ClusterNode& operator=(ClusterNode&&) = delete;

  store::ConfigStore& config();
  // nullopt while the region's quorum has answered within the grace period; otherwise why not.
  std::optional<std::string> unready_reason() const;
  // Stops the heartbeat and removes this node's entry (a clean shutdown).
  void leave();

  // The replicated spool over `local` (see ClusterSpool); `data_dir` keeps which generation
  // this node writes. A node fenced while it was away reconciles its local jobs here.
  Result<std::unique_ptr<ClusterSpool>> open_spool(store::Spool& local,
                                                   const std::string& data_dir);

  // Idempotency keys shared by the region's nodes (the bucket `cluster init` made).
  Result<std::unique_ptr<api::Idempotency>> open_idempotency();

  // The per-account hourly limit counted across the region's nodes (approximately: see
  // tenancy/region_rate_limiter.h and docs/cluster.md).
  Result<std::unique_ptr<tenancy::RequestLimiter>> open_rate_limiter();

  // Publishes this node's events to the region's stream and copies the other nodes' into
  // `log` (which must outlive the result).
  // `answer` runs an acceptance's answer, once the region has its events, on another thread.
  Result<std::unique_ptr<ClusterEvents>> replicate_events(
      events::SqliteEventLog& log, std::function<void(std::function<void()>)> answer);

  // The region's queue of push notification batches, shared by its nodes; `url_of` unseals a
  // dead letter's endpoint (sealed, job id) into its URL.
  Result<std::unique_ptr<events::HookQueue>> open_hook_queue(
      std::function<std::string(const std::string&, const std::string&)> url_of);

  struct Impl;

 private:
  explicit ClusterNode(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// `txmail cluster init`: creates every bucket the region needs, or with `dry_run` says what it
// would create. Idempotent. Returns one line per asset.
Result<std::vector<std::string>> provision(const ClusterOptions& options, bool dry_run);

// `txmail cluster status`: this node's connection, the buckets with leader, replicas and lag,
// and the nodes that heartbeat, as a JSON document.
Result<std::string> status_json(const ClusterOptions& options);
// The same for people.
std::string status_text(const std::string& text);

// `txmail cluster takeover NODE`: every spool NODE owns goes to `to` (by compare-and-set), which
// adopts it within a second. Refused while NODE heartbeats unless `force` (a live node is
// fenced and stops delivering within its lease), and when `to` does not heartbeat. One line
// per spool moved.
Result<std::vector<std::string>> takeover(const ClusterOptions& options, const std::string& node,
                                          const std::string& to, bool force);

// `txmail cluster keygen FILE`: a new cluster master key, mode 0600; refuses to overwrite.
Result<void> keygen(const std::string& path);

}  // namespace txmail::cluster
