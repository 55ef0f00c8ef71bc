// The event log: durable, append-only, indexed by job, mail id, account and time. Embedded
// backend: SqliteEventLog (one writer thread, one transaction per group of appends).
//
// Every stored event has a sequence number: they grow in the order events are stored, and a
// reader that has seen sequence number N and then reads after N never misses an event stored
// later. The push notification dispatcher follows the log this way (read_after, last_seq);
// nothing outside a backend reads its storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/result.h"
#include "events/event.h"

namespace txmail::events {

// The position up to which the region's events stream holds every event of this node's log.
inline constexpr const char* kPublishedPosition = "region.published";

// An event as a follower of the log reads it: its sequence number and its job's notification
// data (all fields empty, received_ms 0, when none was stored for the job).
struct LoggedEvent {
  std::int64_t seq = 0;
  Event event;
  JobInfo job;
};

class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  EventLog(EventLog&&) = delete;
  EventLog& operator=(EventLog&&) = delete;
  virtual ~EventLog() = default;

  // Queued for the writer; stored (synced) in the order given. Never blocks on disk.
  virtual void append(Event event) = 0;
  // Queued like append(); `stored` runs once all of them, and all queued before them (events
  // and jobs' data), are synced: on the writer's thread, or, in cluster mode, on a worker once
  // the region has them too (SqliteEventLog::Region). With no events: a barrier.
  virtual void append_all(std::vector<Event> events, std::function<void()> stored) = 0;

  // `done` runs as append_all's `stored` would for no events (once everything queued before it
  // is synced, and in cluster mode in the region too), without hurrying the writer: it is
  // delivery's barrier (EventsFirstSpool), stored with the batch the writer gathers anyway.
  virtual void after_stored(std::function<void()> done) { append_all({}, std::move(done)); }

  // A job's notification data, queued like events (stored before the events queued after it).
  virtual void append_job(JobInfo info) = 0;
  virtual Result<std::vector<Event>> for_job(const std::string& job_id) = 0;
  virtual Result<std::vector<Event>> for_mail(const std::string& mail_id) = 0;
  // Up to `limit` stored events with a sequence number above `after` (0: from the first), in
  // log order, each with its job's data. Empty: nothing stored after `after` yet.
  virtual Result<std::vector<LoggedEvent>> read_after(std::int64_t after, std::size_t limit) = 0;

  // Cluster mode: up to `limit` of the events copied here from node `origin`, those it numbered
  // above `after` in its own log, in its order; each LoggedEvent's seq is that number. A log
  // that holds no copies has none to give.
  virtual Result<std::vector<LoggedEvent>> read_copies_after(const std::string& /*origin*/,
                                                             std::int64_t /*after*/,
                                                             std::size_t /*limit*/) {
    return std::vector<LoggedEvent>{};
  }

  // Cluster mode: a named position kept with the log (kPublishedPosition: every event up to it
  // is in the region's events stream); 0 when none was stored, and in a log that keeps none.
  virtual Result<std::int64_t> position(const std::string& /*name*/) { return std::int64_t{0}; }

  // The sequence number of the last stored event; 0 when there is none.
  virtual Result<std::int64_t> last_seq() = 0;
  // Completes every queued append.
  virtual void close() = 0;
};

}  // namespace txmail::events
