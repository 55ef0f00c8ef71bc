// The event log: durable, append-only, indexed by job, mail id, account and time. Embedded
// backend: SqliteEventLog (one writer thread, one transaction per group of appends).
#pragma once

#include <functional>
#include <vector>

#include "common/result.h"
#include "events/event.h"

namespace txmail::events {

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
  // Queued like append(); `stored` runs (on the writer's thread) once all of them are synced.
  virtual void append_all(std::vector<Event> events, std::function<void()> stored) = 0;
  // A job's notification data, queued like events (stored before the events queued after it).
  virtual void append_job(JobInfo info) = 0;
  virtual Result<std::vector<Event>> for_job(const std::string& job_id) = 0;
  virtual Result<std::vector<Event>> for_mail(const std::string& mail_id) = 0;
  // Completes every queued append.
  virtual void close() = 0;
};

}  // namespace txmail::events
