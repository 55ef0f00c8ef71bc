#include "events/sqlite_event_log.h"

#include <sqlite3.h>

#include "common/log.h"

namespace txmail::events {

namespace {

constexpr std::size_t kBatch = 1000;  // events per transaction at most, before waking early

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY, tag TEXT NOT NULL, ts_ms INTEGER NOT NULL, kind INTEGER NOT "
    "NULL,"
    " job_id TEXT NOT NULL, mail_id TEXT NOT NULL, account TEXT NOT NULL, recipient TEXT NOT NULL,"
    " sender TEXT NOT NULL, attempt INTEGER NOT NULL, remote_host TEXT NOT NULL, reply TEXT NOT "
    "NULL,"
    " egress TEXT NOT NULL, tls TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_job ON events(job_id);"
    "CREATE INDEX IF NOT EXISTS events_mail ON events(mail_id);"
    "DROP INDEX IF EXISTS events_account_ts;"
    "CREATE INDEX IF NOT EXISTS events_ts ON events(ts_ms);"
    "CREATE TABLE IF NOT EXISTS jobs ("
    " job_id TEXT PRIMARY KEY, account TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " sender TEXT NOT NULL, mime_from TEXT NOT NULL, reference_job TEXT NOT NULL,"
    " campaign_id TEXT NOT NULL, cost_center TEXT NOT NULL, endpoint TEXT NOT NULL);";

std::string text(sqlite3_stmt* st, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  return p == nullptr ? std::string()
                      : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
}

// The columns event_at() reads, from `events` as `e`, and how many.
constexpr const char* kEventColumns =
    "e.tag, e.ts_ms, e.kind, e.job_id, e.mail_id, e.account, e.recipient, e.sender, e.attempt,"
    " e.remote_host, e.reply, e.egress, e.tls";
constexpr int kEventColumnCount = 13;

Event event_at(sqlite3_stmt* st) {
  Event e;
  e.tag = text(st, 0);
  e.ts_ms = sqlite3_column_int64(st, 1);
  e.kind = static_cast<Kind>(sqlite3_column_int(st, 2));
  e.job_id = text(st, 3);
  e.mail_id = text(st, 4);
  e.account = text(st, 5);
  e.recipient = text(st, 6);
  e.sender = text(st, 7);
  e.attempt = static_cast<std::uint32_t>(sqlite3_column_int64(st, 8));
  e.remote_host = text(st, 9);
  e.reply = text(st, 10);
  e.egress = text(st, 11);
  e.tls = text(st, 12);
  return e;
}

// Events after a sequence number with their job's data (none: NULLs, read as empty).
std::string read_after_sql() {
  return std::string("SELECT ") + kEventColumns
         + ", e.seq, j.job_id, j.account, j.received_ms, j.sender, j.mime_from, j.reference_job,"
           " j.campaign_id, j.cost_center, j.endpoint"
           " FROM events e LEFT JOIN jobs j ON j.job_id = e.job_id"
           " WHERE e.seq > ? ORDER BY e.seq LIMIT ?";
}

}  // namespace

Result<std::unique_ptr<SqliteEventLog>> SqliteEventLog::open(const std::string& path, Mode mode) {
  sqlite3* writer = nullptr;
  if (mode == Mode::kReadWrite) {
    if (sqlite3_open_v2(path.c_str(), &writer,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr)
            != SQLITE_OK
        || sqlite3_exec(writer, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::string detail = writer != nullptr ? sqlite3_errmsg(writer) : "?";
      sqlite3_close(writer);
      return make_error(ErrorCode::kIo, "event log " + path + ": " + detail);
    }
  }
  // Read-only connections: one for lookups, one for the follower of the log.
  sqlite3* readers[2] = {nullptr, nullptr};
  for (auto*& reader : readers) {
    if (sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr)
        != SQLITE_OK) {
      std::string detail = reader != nullptr ? sqlite3_errmsg(reader) : "?";
      sqlite3_close(readers[0]);
      sqlite3_close(readers[1]);
      sqlite3_close(writer);
      return make_error(ErrorCode::kIo, "event log " + path + ": " + detail);
    }
    sqlite3_busy_timeout(reader, 5000);
  }
  std::unique_ptr<SqliteEventLog> log(new SqliteEventLog(writer, readers[0], readers[1]));
  if (writer != nullptr) {
    log->writer_ = std::thread([l = log.get()] { l->writer_loop(); });
  }
  return log;
}

SqliteEventLog::~SqliteEventLog() {
  close();
  sqlite3_close(db_);
  sqlite3_close(reader_);
  sqlite3_close(follower_);
}

void SqliteEventLog::append(Event event) {
  std::lock_guard lock(mutex_);
  if (closing_ || db_ == nullptr) {
    logger()->error("event log closed: dropped event job={} mail={}", event.job_id, event.mail_id);
    return;
  }
  queue_.push_back(std::move(event));
  if (queue_.size() == 1 || queue_.size() == kBatch) {
    wake_.notify_one();  // the writer waits for the first event, then gathers for a moment
  }
}

void SqliteEventLog::append_all(std::vector<Event> events, std::function<void()> stored) {
  std::unique_lock lock(mutex_);
  if (closing_ || db_ == nullptr) {
    lock.unlock();
    logger()->error("event log closed: dropped {} events", events.size());
    stored();
    return;
  }
  const bool was_empty = queue_.empty();
  for (auto& e : events) {
    queue_.push_back(std::move(e));
  }
  waiters_.push_back(std::move(stored));
  if (was_empty || queue_.size() >= kBatch) {
    wake_.notify_one();
  }
}

void SqliteEventLog::append_job(JobInfo info) {
  std::lock_guard lock(mutex_);
  if (closing_ || db_ == nullptr) {
    logger()->error("event log closed: dropped job info job={}", info.job_id);
    return;
  }
  jobs_.push_back(std::move(info));
}

void SqliteEventLog::writer_loop() {
  std::vector<Event> batch;
  std::vector<JobInfo> jobs;
  std::vector<std::function<void()>> waiters;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::minutes(1),
                     [this] { return closing_ || !queue_.empty() || !jobs_.empty(); });
      if (queue_.empty() && jobs_.empty()) {
        if (closing_) {
          return;
        }
        lock.unlock();
        prune();
        continue;
      }
      // Events are not in any acknowledgement's path: a few milliseconds of gathering make
      // one transaction (and one sync) of what would be dozens.
      wake_.wait_for(lock, std::chrono::milliseconds(5),
                     [this] { return closing_ || queue_.size() >= kBatch; });
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
      jobs.assign(std::make_move_iterator(jobs_.begin()), std::make_move_iterator(jobs_.end()));
      jobs_.clear();
      waiters.swap(waiters_);
    }
    write_batch(batch, jobs);
    batch.clear();
    jobs.clear();
    prune();
    for (auto& w : waiters) {
      w();
    }
    waiters.clear();
  }
}

void SqliteEventLog::write_batch(const std::vector<Event>& batch, const std::vector<JobInfo>& jobs) {
  sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  if (!jobs.empty()) {
    sqlite3_stmt* js = nullptr;
    sqlite3_prepare_v2(db_,
                       "INSERT OR REPLACE INTO jobs (job_id, account, received_ms, sender, mime_from,"
                       " reference_job, campaign_id, cost_center, endpoint) VALUES (?,?,?,?,?,?,?,?,?)",
                       -1, &js, nullptr);
    for (const auto& j : jobs) {
      const std::string* texts[] = {&j.job_id, &j.account};
      for (int i = 0; i < 2; ++i) {
        sqlite3_bind_text(js, 1 + i, texts[i]->c_str(), static_cast<int>(texts[i]->size()), SQLITE_STATIC);
      }
      sqlite3_bind_int64(js, 3, j.received_ms);
      const std::string* more[] = {&j.sender, &j.mime_from, &j.reference_job, &j.campaign_id,
                                   &j.cost_center, &j.endpoint_sealed};
      for (int i = 0; i < 6; ++i) {
        sqlite3_bind_text(js, 4 + i, more[i]->c_str(), static_cast<int>(more[i]->size()), SQLITE_STATIC);
      }
      if (sqlite3_step(js) != SQLITE_DONE) {
        logger()->error("event log: job info write failed job={}: {}", j.job_id, sqlite3_errmsg(db_));
      }
      sqlite3_reset(js);
    }
    sqlite3_finalize(js);
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(
      db_,
      "INSERT INTO events (tag, ts_ms, kind, job_id, mail_id, account, recipient, sender,"
      " attempt, remote_host, reply, egress, tls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
      -1, &st, nullptr);
  for (const auto& e : batch) {
    sqlite3_bind_text(st, 1, e.tag.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, e.ts_ms);
    sqlite3_bind_int(st, 3, static_cast<int>(e.kind));
    const std::string* texts[] = {&e.job_id, &e.mail_id, &e.account, &e.recipient, &e.sender};
    for (int i = 0; i < 5; ++i) {
      sqlite3_bind_text(st, 4 + i, texts[i]->c_str(), static_cast<int>(texts[i]->size()),
                        SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 9, e.attempt);
    const std::string* more[] = {&e.remote_host, &e.reply, &e.egress, &e.tls};
    for (int i = 0; i < 4; ++i) {
      sqlite3_bind_text(st, 10 + i, more[i]->c_str(), static_cast<int>(more[i]->size()),
                        SQLITE_STATIC);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
      logger()->error("event log write failed job={}: {}", e.job_id, sqlite3_errmsg(db_));
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    logger()->error("event log commit failed: {}", sqlite3_errmsg(db_));
  }
}

Result<std::vector<Event>> SqliteEventLog::for_job(const std::string& job_id) {
  return query("job_id", job_id);
}

Result<std::vector<Event>> SqliteEventLog::for_mail(const std::string& mail_id) {
  return query("mail_id", mail_id);
}

Result<std::vector<Event>> SqliteEventLog::query(const char* column, const std::string& value) {
  std::lock_guard lock(read_mutex_);
  sqlite3_stmt* st = nullptr;
  const std::string sql = std::string("SELECT ") + kEventColumns + " FROM events e WHERE e."
                          + column + " = ? ORDER BY e.seq";
  if (sqlite3_prepare_v2(reader_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, std::string("event log: ") + sqlite3_errmsg(reader_));
  }
  sqlite3_bind_text(st, 1, value.c_str(), static_cast<int>(value.size()), SQLITE_STATIC);
  std::vector<Event> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.push_back(event_at(st));
  }
  sqlite3_finalize(st);
  return out;
}

Result<std::vector<LoggedEvent>> SqliteEventLog::read_after(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(follow_mutex_);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(follower_, read_after_sql().c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string detail = sqlite3_errmsg(follower_);
    sqlite3_finalize(st);
    return make_error(ErrorCode::kIo, "event log: " + detail);
  }
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int64(st, 2, static_cast<std::int64_t>(limit));
  std::vector<LoggedEvent> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    LoggedEvent r;
    r.event = event_at(st);
    constexpr int j = kEventColumnCount + 1;  // the job's columns, after seq
    r.seq = sqlite3_column_int64(st, kEventColumnCount);
    r.job.job_id = text(st, j);
    r.job.account = text(st, j + 1);
    r.job.received_ms = sqlite3_column_int64(st, j + 2);
    r.job.sender = text(st, j + 3);
    r.job.mime_from = text(st, j + 4);
    r.job.reference_job = text(st, j + 5);
    r.job.campaign_id = text(st, j + 6);
    r.job.cost_center = text(st, j + 7);
    r.job.endpoint_sealed = text(st, j + 8);
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    // Nothing half read: the caller asks again from the same place.
    return make_error(ErrorCode::kIo, std::string("event log: ") + sqlite3_errstr(rc));
  }
  return out;
}

Result<std::int64_t> SqliteEventLog::last_seq() {
  std::lock_guard lock(follow_mutex_);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(follower_, "SELECT coalesce(max(seq), 0) FROM events", -1, &st, nullptr)
          != SQLITE_OK
      || sqlite3_step(st) != SQLITE_ROW) {
    std::string detail = sqlite3_errmsg(follower_);
    sqlite3_finalize(st);
    return make_error(ErrorCode::kIo, "event log: " + detail);
  }
  const std::int64_t seq = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return seq;
}

void SqliteEventLog::prune() {
  const auto now = std::chrono::steady_clock::now();
  const auto retention = retention_.load(std::memory_order_relaxed);
  if (retention.count() <= 0 || now - last_prune_ < std::chrono::minutes(1)) {
    return;
  }
  last_prune_ = now;
  const std::int64_t cutoff =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch() - retention)
          .count();
  // A few thousand rows per statement: the writer goes back to new events in between. The
  // newest event stays, however old: seq is a rowid, and an emptied table would number the
  // next event 1 again, behind every follower's position.
  for (const char* sql : {"DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts_ms < ?1"
                          " AND seq < (SELECT max(seq) FROM events) LIMIT 5000)",
                          "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE received_ms < ?1 LIMIT 5000)"}) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, sql, -1, &st, nullptr);
    sqlite3_bind_int64(st, 1, cutoff);
    if (sqlite3_step(st) != SQLITE_DONE) {
      logger()->error("event log retention: {}", sqlite3_errmsg(db_));
    } else if (sqlite3_changes(db_) > 0) {
      logger()->info("event log retention: {} rows older than {} ms removed", sqlite3_changes(db_),
                     retention.count());
      last_prune_ = {};  // more may be waiting: again after the next batch
    }
    sqlite3_finalize(st);
  }
}

std::size_t SqliteEventLog::backlog() {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void SqliteEventLog::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    wake_.notify_one();
  }
  if (writer_.joinable()) {
    writer_.join();
  }
}

}  // namespace txmail::events
