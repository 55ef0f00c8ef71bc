// The push notification dispatcher (issue core-5, item 4; per-endpoint isolation: issue
// hooks-2).
//
// A reader follows the event log in order (through EventLog::read_after, never the log's own
// storage; from the dispatcher's thread), groups each new event with its job's endpoint (the
// job's own, else the account's default) into one JSON batch per (endpoint, job):
// {"meta": {...}, "notifications": [...]}, and stores the batches in the outbox
// (<data_dir>/webhooks.db) in the same transaction that moves its durable position: it never
// waits for an endpoint, and after a crash every event is sent at least once.
//
// Each endpoint (by URL) is a lane of its own: its batches wait in the outbox (on disk, not in
// memory), at most `per_endpoint` requests at once go to it over kept-alive connections, each
// with one deadline (`timeout`). Every request is a coroutine on the dispatcher's own thread:
// a hanging endpoint holds sockets, never threads, and no other endpoint waits for it. Each
// POST carries X-Txmail-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body"> under the
// account's secret, and the endpoint's Basic credentials and headers (never in place of the
// signature, Host, Connection or the body's framing). 2xx is done; 301-308 and 400-406 are
// not retried (counted as refused); anything else, and network errors, are retried on the
// schedule with +-25% jitter, then kept as dead letters until replayed.
//
// Circuit breaker: after `breaker_failures` failures in a row an endpoint is paused (no
// request at all) for the first retry wait, doubling on each pause up to the longest one; then
// one request probes it; a success resumes it at full concurrency, a failure pauses it again.
// Paused endpoints show in /metrics and in GET /v2/webhooks/endpoint.
//
// Cluster mode (issue site-3, item 2; Deps::queue): the batches go to the region's queue instead
// of the outbox, and the queue hands them to whichever node has room, into that node's outbox
// and lanes (events/webhook_region.h).
//
// Connections are bound to [notifications] source_address; targets on loopback, private or
// link-local addresses are refused unless allow_private_targets. TLS verifies the certificate
// and the host name.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event.h"
#include "events/event_log.h"
#include "events/webhook_client.h"

struct sqlite3;

namespace txmail::events {

struct WebhookOptions {
  std::string source_address;  // "" : the system's choice
  bool allow_private_targets = false;
  std::vector<std::chrono::milliseconds> retry_schedule;  // empty: the default 15 tries
  std::size_t chunk = 2000;                               // events read per round
  std::size_t batch_max = 500;                            // notifications per POST
  std::size_t per_endpoint = 4;                           // requests at once per endpoint
  std::size_t max_in_flight = 512;                        // requests at once in all
  std::uint32_t breaker_failures = 5;  // failures in a row that pause an endpoint
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // one request, all of it
  std::chrono::milliseconds poll = std::chrono::milliseconds(100);
};

// What GET /v2/webhooks/endpoint shows of an endpoint's delivery.
struct EndpointStatus {
  std::string state = "active";  // "active", "paused" or "probing"
  std::uint32_t consecutive_failures = 0;
  std::int64_t paused_until_ms = 0;  // while paused
  std::string last_error;
  std::uint64_t backlog = 0;  // batches waiting in the outbox
};

// 7 tries about 2 minutes apart, then 8 about 8 minutes apart (before jitter).
std::vector<std::chrono::milliseconds> default_retry_schedule();

struct DeadLetter {
  std::int64_t id = 0;
  std::string account;
  std::string job_id;
  std::string url;
  int attempts = 0;
  std::string last_error;
  std::int64_t created_ms = 0;
  std::size_t notifications = 0;
};

struct WebhookStats {
  std::uint64_t posts = 0;             // batches delivered (2xx)
  std::uint64_t delivered = 0;         // notifications in them
  std::uint64_t refused = 0;           // batches answered 301-308 / 400-406, or a refused target
  std::uint64_t failures = 0;          // attempts that will be retried
  std::uint64_t dead = 0;              // batches that ran out of tries
  std::uint64_t retry_backlog = 0;     // batches in the outbox (waiting for a first or next try)
  std::uint64_t endpoints_paused = 0;  // paused or probing (circuit breaker)
  std::uint64_t breaker_trips = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t lag = 0;  // events in the log not yet read by the dispatcher
};

// A batch in the region's shared queue (cluster mode, issue site-3 item 2), as a node holds it
// while its lane sends it.
struct QueuedBatch {
  std::string handle;  // the queue's name for this delivery of it: settle() takes it
  std::string account;
  std::string job_id;
  std::string endpoint;  // sealed, context "webhook:<job>"
  std::string body;
  std::size_t notifications = 0;
  int attempt = 0;  // tries made before this one (by any node)
  int handed = 0;   // times the queue handed it out before (tries and hand-backs)
};

// The region's queue of push notification batches, shared by its nodes (cluster mode): each
// batch is handed to one node at a time; one it does not settle (the node died) goes to another.
// Embedded mode has none: webhooks.db's outbox is the queue.
class HookQueue {
 public:
  enum class Outcome { kDone, kRetry, kDead };

  HookQueue() = default;
  virtual ~HookQueue() = default;
  HookQueue(const HookQueue&) = delete;
  HookQueue& operator=(const HookQueue&) = delete;
  HookQueue(HookQueue&&) = delete;
  HookQueue& operator=(HookQueue&&) = delete;

  // Stores the batches made of `origin`'s events ("" : this node's) in the region, each under
  // its id (a batch put twice is kept once); returns once every one is stored.
  virtual Result<void> put(const std::string& origin,
                           std::vector<std::pair<std::string, QueuedBatch>> batches) = 0;

  // How far a node's events were made into batches, kept in the region: the node that takes a
  // dead node's spool over also makes the batches of the events it had not, from there on.
  struct ReaderPosition {
    std::int64_t seq = 0;        // the last event (its number in its node's log)
    std::uint64_t revision = 0;  // the compare-and-set token of the next move
  };

  // `node`'s position ("" : this node's); nullopt when it never stored one.
  virtual Result<std::optional<ReaderPosition>> reader_position(const std::string& node) = 0;
  // This node's reader moved past `seq` (its batches are stored).
  virtual Result<void> reader_moved(std::int64_t seq) = 0;
  // A dead node's reader, taken over, moved past `seq`; false when `node`'s position is no
  // longer at `revision` (it came back, or another node moved it): the move is not made.
  virtual Result<bool> reader_moved(const std::string& node, std::int64_t seq,
                                    std::uint64_t revision) = 0;
  // The nodes whose events this node makes into batches now besides its own: those judged dead
  // whose spool it took over.
  virtual std::vector<std::string> readers_taken() = 0;
  // Hands batches to `take` (from the queue's thread) while `room` (how many more this node may
  // hold) is not 0, until stop(). `take` says how many it kept (none: the queue waits a little
  // before it fetches again).
  virtual void start(std::function<std::size_t(std::vector<QueuedBatch>)> take,
                     std::function<std::size_t()> room) = 0;
  virtual void stop() = 0;
  // The end of a try (or of holding a batch): done, tried again in `delay` by any node, or kept
  // as a region-wide dead letter after `attempts` tries, the last failing with `error`. A retry
  // with `attempts` 0 is a hand-back (the batch was not tried): it counts no try.
  virtual void settle(const std::string& handle, Outcome outcome, std::chrono::milliseconds delay,
                      const std::string& error, int attempts) = 0;
  // The region's dead letters of the account ("" : all), oldest first; replay() queues them
  // again (each tried afresh) and says how many.
  virtual Result<std::vector<DeadLetter>> dead_letters(const std::string& account,
                                                       std::size_t limit) = 0;
  virtual Result<std::size_t> replay(const std::string& account) = 0;
  virtual std::uint64_t dead_count() const = 0;  // as last seen
};

class WebhookDispatcher {
 public:
  struct Deps {
    EventLog& event_log;   // followed (read only); outlives the dispatcher
    std::string state_db;  // position, outbox and dead letters: the dispatcher's own (written)
    std::function<std::optional<Endpoint>(const std::string& account)> account_endpoint;
    std::function<std::string(const std::string& account)> secret_of;
    std::function<std::string(const std::string& plain, const std::string& context)> seal;
    std::function<Result<std::string>(const std::string& sealed, const std::string& context)> open;
    dns::Resolver* resolver = nullptr;  // endpoint names ([dns] servers); null: the system's
    HookQueue* queue = nullptr;  // cluster: the region's (outlives the dispatcher); null: local
  };

  static Result<std::unique_ptr<WebhookDispatcher>> open(Deps deps, WebhookOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;
  WebhookDispatcher(WebhookDispatcher&&) = delete;
  WebhookDispatcher& operator=(WebhookDispatcher&&) = delete;

  void start();
  void stop();  // finishes the round in progress

  // The account's dead letters ("" : every account's), oldest first.
  Result<std::vector<DeadLetter>> dead_letters(const std::string& account, std::size_t limit);
  // Moves the account's dead letters ("" : all) back to the retry queue, due now; how many.
  Result<std::size_t> replay(const std::string& account);

  WebhookStats stats();
  // The delivery state of the endpoint with this URL (active with no backlog when unknown).
  EndpointStatus endpoint_status(const std::string& url);

 private:
  struct Impl;
  explicit WebhookDispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txmail::events
