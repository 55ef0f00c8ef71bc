// EventReplication: the region's events stream (issue site-3, item 1). Internal to the cluster
// module; ClusterNode starts it over the node's event log.
//
// Every node keeps its own events in its SQLite log first (as in embedded mode: the status API
// and webhooks read it at once), and a publisher thread copies them, in log order, to the
// stream TXMAIL_EVENTS (R3, `cluster init` makes it) under the subject txmail.events.<node>,
// each with Nats-Msg-Id "<node>/<seq>" so a batch sent again after a timeout is stored once.
// The log's position "region.published" moves only once the region acknowledged everything
// before it: an event is on this node's disk before it is published, and in three sites'
// memory once it is. The log tells the publisher when it stored events of this node's, so they
// go out at once (kIdle is only the longest pause). An acceptance (the REST 202, the SMTP 250: the
// log's append_all) is answered once the region stored its job's events, not only this disk (the
// log's relay), so a site lost right after it answered takes none of them with it; when the region
// does not store them within [cluster] timeout it is answered anyway (counted; they go out with a
// later round), and while it does not answer (not connected, the last round failed) nobody waits.
//
// An importer thread follows the whole stream (an ordered consumer from the position
// "region.imported" on) and copies the other nodes' events into the log, stored in the same
// transaction as the position they come up to: `GET /v2/jobs/{id}`, `/v2/messages/{id}` and
// `txmail events` answer the same at every site. Copied events carry their origin; the push
// notification dispatcher leaves them to the node that recorded them.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/nats_connection.h"
#include "common/clock.h"
#include "events/sqlite_event_log.h"

namespace txmail::cluster {

inline constexpr const char* kEventsStream = "TXMAIL_EVENTS";
inline constexpr const char* kEventsSubjects = "txmail.events.>";
using events::kPublishedPosition;
inline constexpr const char* kImportedPosition = "region.imported";
// The stream forgets events after the event log's default retention.
inline constexpr std::chrono::hours kEventsMaxAge{24 * 45};
// ... or once it holds this much (about 4 million events; the servers' max_file_store must have
// room for it beside the spools).
inline constexpr std::int64_t kEventsMaxBytes = std::int64_t{2} << 30;

std::string events_subject(const std::string& node);

class EventReplication final : public ClusterEvents {
 public:
  // `announce` takes what goes into the node's heartbeat (JSON), from the copier's threads.
  using Announce = std::function<void(std::string)>;
  // Runs an acceptance's answer on another thread (the node's workers): the publisher never
  // waits for what an answer does (a REST answer may write its idempotency key to NATS).
  using Post = std::function<void(std::function<void()>)>;
  static Result<std::unique_ptr<EventReplication>> start(NatsConnection& nats, std::string node,
                                                         events::SqliteEventLog& log,
                                                         Announce announce, Post answer);
  ~EventReplication() override;
  EventReplication(const EventReplication&) = delete;
  EventReplication& operator=(const EventReplication&) = delete;
  EventReplication(EventReplication&&) = delete;
  EventReplication& operator=(EventReplication&&) = delete;

  ClusterEventStats stats() const override;

  // The library's acknowledgement callback (see the registry in event_replication.cc).
  void acknowledged(bool ok);
  // The log's relay: `done` is taken (true) to run once the region stored the log up to `seq`,
  // or `timeout` later; false when it already has, or does not answer now (`done` is left to
  // the caller, and counted as answered unpublished).
  bool take_waiter(std::int64_t seq, std::function<void()>& done);
  // The log stored events of this node's: the publisher goes at once, not at its next round.
  void wake();

 private:
  EventReplication(NatsConnection& nats, std::string node, events::SqliteEventLog& log,
                   Announce announce, Post answer)
      : nats_(nats),
        node_(std::move(node)),
        log_(log),
        announce_(std::move(announce)),
        answer_(std::move(answer)) {}

  void announce();

  void publish_loop();
  // Publishes the events after `from`; the position up to which the region stored them.
  Result<std::int64_t> publish_round(std::int64_t from);

  // Other nodes' events taken from the stream, not yet in the log.
  struct ImportBatch {
    std::int64_t position = 0;  // the stream seq they come up to
    std::vector<events::Event> events;
    std::vector<events::JobInfo> jobs;  // the data of their jobs that came with them
    std::int64_t newest_ts = 0;
    std::optional<Clock::time_point> due;  // when they go to the log (kImportWait after the first)

    void take(std::int64_t seq, const NatsMsg& m, const std::string& own_subject);
    std::int64_t due_in_ms() const;
  };

  void import_loop();
  void import_once(std::int64_t from);
  natsSubscription* subscribe(std::int64_t from);  // null: it failed (logged)
  bool flush(ImportBatch& batch);
  bool pause(std::chrono::milliseconds d);  // false when stopping
  void idle();                              // kIdle, or until woken (wake)
  // Runs the waiters the region's position `at` satisfies, and those that waited too long.
  void release(std::int64_t at);

  NatsConnection& nats_;
  const std::string node_;
  events::SqliteEventLog& log_;
  Announce announce_;
  Post answer_;
  jsCtx* js_ = nullptr;  // the publisher's own context (its acknowledgement callback)
  std::uintptr_t registry_id_ = 0;

  std::atomic<bool> stop_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::thread publisher_;
  std::thread importer_;
  RetiredSubscriptions retired_subscriptions_;  // the importer's

  bool wanted_ = false;  // under stop_mutex_: new events of this node's, publish at once

  // Acceptances waiting for the region, in the order of their log positions.
  struct Waiter {
    std::int64_t seq = 0;  // the log's last seq when its events were stored
    Clock::time_point since;
    std::function<void()> done;
  };

  std::mutex waiters_mutex_;
  std::deque<Waiter> waiters_;
  std::atomic<std::uint64_t> answered_unpublished_{0};
  std::atomic<bool> failing_{false};  // the last round was not stored: nobody waits meanwhile

  std::atomic<std::uint64_t> acks_ok_{0};
  std::atomic<std::uint64_t> acks_failed_{0};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> publish_failures_{0};
  std::atomic<std::int64_t> published_position_{0};
  std::atomic<std::uint64_t> imported_{0};
  std::atomic<std::uint64_t> import_pending_{0};
  std::atomic<std::int64_t> imported_position_{0};
  std::atomic<std::int64_t> last_import_lag_ms_{0};
};

}  // namespace txmail::cluster
