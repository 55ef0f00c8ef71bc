// SqliteEventLog: the embedded event log, a SQLite file in WAL mode (synchronous=FULL). Appends
// are queued and written by one thread, one transaction per batch (group commit). A stored
// event's sequence number is its rowid (`seq`). Three connections, never shared unguarded: the
// writer's (its thread only), one for the lookups (for_job, for_mail) and one for the follower
// of the log (read_after, last_seq), each behind its own mutex, so the dispatcher's rounds never
// hold up the status API. WAL lets both read while the writer writes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "events/event_log.h"
#include "events/message_index.h"
#include "store/sqlite.h"

namespace txmail::events {

class SqliteEventLog final : public EventLog, public MessageSearch {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  static Result<std::unique_ptr<SqliteEventLog>> open(const std::string& path, Mode mode);
  ~SqliteEventLog() override;
  SqliteEventLog(const SqliteEventLog&) = delete;
  SqliteEventLog& operator=(const SqliteEventLog&) = delete;
  SqliteEventLog(SqliteEventLog&&) = delete;
  SqliteEventLog& operator=(SqliteEventLog&&) = delete;

  void append(Event event) override;
  void append_all(std::vector<Event> events, std::function<void()> stored) override;
  void after_stored(std::function<void()> done) override;
  void append_job(JobInfo info) override;
  Result<std::vector<Event>> for_job(const std::string& job_id) override;
  Result<std::vector<Event>> for_mail(const std::string& mail_id) override;
  // Every event of one recipient address, the domain given as an A-label or a U-label (the
  // log stores the A-label form: common/idna.h). For `txmail events --recipient`.
  Result<std::vector<Event>> for_recipient(const std::string& address);
  // One row per message, from the message index (message_index.h), on the lookups' connection.
  Result<std::vector<MessageRow>> search(const MessageQuery& query) override;
  Result<std::vector<LoggedEvent>> read_after(std::int64_t after, std::size_t limit) override;
  Result<std::vector<LoggedEvent>> read_copies_after(const std::string& origin, std::int64_t after,
                                                     std::size_t limit) override;
  Result<std::int64_t> last_seq() override;
  void close() override;
  // Events queued for the writer, not yet stored. Any thread.
  std::size_t backlog();

  // Cluster mode: other nodes' events (origin set) copied from the region's stream, stored with
  // the stream position they come up to in the same transaction, so a copy is never stored
  // twice nor skipped (a copy delivered twice is stored once: its origin and tag are unique).
  // `jobs` (the data of their jobs that came with them) are stored in the same transaction.
  // `stored` runs once the batch is synced (true) or was lost (false: copy again from the
  // position stored before).
  void import(std::vector<Event> events, std::vector<JobInfo> jobs,
              const std::string& position_name, std::int64_t position,
              std::function<void(bool stored)> stored);

  // Cluster mode: the region's copy of the log (EventReplication). Both are called on the
  // writer's thread and must stay callable once set (EventReplication's look it up by number
  // and find nothing once it is gone). Unset (the default), the log is as in embedded mode.
  struct Region {
    // What an acceptance (append_all's `stored`) waits for once its events are stored, before
    // it is answered: `done` runs (on any thread) when the region has the log up to `seq` (the
    // last stored when its events were), or gave up waiting.
    std::function<void(std::int64_t seq, std::function<void()> done)> relay;
    // A batch with this node's own events was stored: they can be published now.
    std::function<void()> stored;
  };

  void set_region(Region region);

  // A named position kept in the log's file (stored with the next batch; no sync of its own).
  void record_position(const std::string& name, std::int64_t position);
  // The named position as stored; 0 when none was.
  Result<std::int64_t> position(const std::string& name) override;

  // Events (and job data) older than this are deleted, a few thousand rows at a time between
  // writes, so writers never wait long. 0: kept for ever. Any thread, any time (the writer
  // reads it after each batch and when idle).
  void set_retention(std::chrono::milliseconds retention) {
    retention_.store(retention, std::memory_order_relaxed);
  }

 private:
  SqliteEventLog(store::sqlite::Db writer, store::sqlite::Db reader, store::sqlite::Db follower)
      : db_(std::move(writer)), reader_(std::move(reader)), follower_(std::move(follower)) {}

  void writer_loop();
  void prune();
  Result<std::vector<Event>> query(const char* column, const std::string& value);

  // What the writer stores in one transaction.
  struct Batch {
    std::vector<Event> events;
    std::vector<JobInfo> jobs;
    std::map<std::string, std::int64_t> positions;
  };

  bool write_batch(const Batch& batch);           // false: lost (logged)
  void note_stored();                             // stored_up_to_ from the writer's own connection
  void queue_waiter(std::function<void()> done);  // under mutex_: relayed in cluster mode
  Result<void> write_all(const Batch& batch);

  store::sqlite::Db db_;        // writer connection (none in read-only mode)
  store::sqlite::Db reader_;    // lookups, under read_mutex_
  store::sqlite::Db follower_;  // read_after and last_seq, under follow_mutex_
  std::mutex mutex_;
  std::mutex read_mutex_;
  std::mutex follow_mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  std::deque<JobInfo> jobs_;
  std::map<std::string, std::int64_t> positions_;   // to store with the next batch
  std::vector<std::function<void(bool)>> waiters_;  // satisfied by the batch that takes queue_
  std::size_t urgent_ = 0;  // waiters_ that end the writer's gathering (all but after_stored's)
  Region region_;           // under mutex_
  std::int64_t stored_up_to_ = 0;  // the last seq stored; the writer's thread
  bool origin_ = true;             // false: a log from before the origin column, opened read-only
  bool closing_ = false;
  std::atomic<std::chrono::milliseconds> retention_{std::chrono::milliseconds(0)};
  std::chrono::steady_clock::time_point last_prune_{};
  std::thread writer_;
};

}  // namespace txmail::events
