#include "events/sqlite_event_log.h"

#include <sqlite3.h>

#include <algorithm>

#include "common/idna.h"
#include "common/log.h"

namespace txmail::events {

namespace {

using store::sqlite::Db;
using store::sqlite::Statement;
using store::sqlite::Transaction;

constexpr std::size_t kBatch = 1000;  // events per transaction at most, before waking early

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY, tag TEXT NOT NULL, ts_ms INTEGER NOT NULL, kind INTEGER NOT "
    "NULL,"
    " job_id TEXT NOT NULL, mail_id TEXT NOT NULL, account TEXT NOT NULL, recipient TEXT NOT NULL,"
    " sender TEXT NOT NULL, attempt INTEGER NOT NULL, remote_host TEXT NOT NULL, reply TEXT NOT "
    "NULL,"
    " egress TEXT NOT NULL, tls TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_job ON events(job_id);"
    "CREATE INDEX IF NOT EXISTS events_mail ON events(mail_id);"
    "CREATE INDEX IF NOT EXISTS events_recipient ON events(recipient);"
    "DROP INDEX IF EXISTS events_account_ts;"
    "CREATE INDEX IF NOT EXISTS events_ts ON events(ts_ms);"
    "CREATE TABLE IF NOT EXISTS jobs ("
    " job_id TEXT PRIMARY KEY, account TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " sender TEXT NOT NULL, mime_from TEXT NOT NULL, reference_job TEXT NOT NULL,"
    " campaign_id TEXT NOT NULL, cost_center TEXT NOT NULL, endpoint TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS positions (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);";

Result<bool> has_column(Db& db, const char* name);

Result<bool> has_origin(Db& db) {
  return has_column(db, "origin");
}

// A log made before cluster mode copied events between nodes has no origin column.
Result<void> add_origin(Db& db) {
  auto found = has_origin(db);
  if (!found) {
    return tl::unexpected(found.error());
  }
  if (!*found) {
    if (auto added = db.exec("ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT ''");
        !added) {
      return added;
    }
  }
  // A copy of another node's event is stored once, whatever the stream delivers twice.
  if (auto made = db.exec("CREATE UNIQUE INDEX IF NOT EXISTS events_copy_tag ON events(origin, "
                          "tag) WHERE origin != ''");
      !made) {
    return made;
  }
  // A copy's sequence number in its origin's log (0: copied before it was kept), by which the
  // node that takes over a dead node's notifications reads that node's events in its order.
  auto seq_found = has_column(db, "origin_seq");
  if (!seq_found) {
    return tl::unexpected(seq_found.error());
  }
  if (!*seq_found) {
    if (auto added = db.exec("ALTER TABLE events ADD COLUMN origin_seq INTEGER NOT NULL DEFAULT 0");
        !added) {
      return added;
    }
  }
  return db.exec(
      "CREATE INDEX IF NOT EXISTS events_origin_seq ON events(origin, origin_seq) WHERE origin != "
      "''");
}

// Whether the events table has a column (a read-only open of an older log cannot add it).
Result<bool> has_column(Db& db, const char* name) {
  bool found = false;
  Statement st(db, "SELECT 1 FROM pragma_table_info('events') WHERE name = ?");
  st.bind(1, std::string(name));
  if (auto done = st.each([&] { found = true; }); !done) {
    return tl::unexpected(done.error());
  }
  return found;
}

// The columns event_at() reads, from `events` as `e`, and how many.
constexpr const char* kEventColumns =
    "e.tag, e.ts_ms, e.kind, e.job_id, e.mail_id, e.account, e.recipient, e.sender, e.attempt,"
    " e.remote_host, e.reply, e.egress, e.tls, e.origin";
constexpr int kEventColumnCount = 14;

Event event_at(const Statement& st) {
  Event e;
  e.tag = st.text(0);
  e.ts_ms = st.int64(1);
  e.kind = static_cast<Kind>(st.int64(2));
  e.job_id = st.text(3);
  e.mail_id = st.text(4);
  e.account = st.text(5);
  e.recipient = st.text(6);
  e.sender = st.text(7);
  e.attempt = static_cast<std::uint32_t>(st.int64(8));
  e.remote_host = st.text(9);
  e.reply = st.text(10);
  e.egress = st.text(11);
  e.tls = st.text(12);
  e.origin = st.text(13);
  return e;
}

// Events after a sequence number with their job's data (none: NULLs, read as empty).
// The columns as a log from before the origin column gives them (opened read-only).
std::string event_columns(bool origin) {
  std::string columns = kEventColumns;
  if (!origin) {
    columns.replace(columns.rfind("e.origin"), std::string("e.origin").size(), "'' AS origin");
  }
  return columns;
}

// `seq` is the log's own sequence number, or for copies of one origin's events, their number in
// that origin's log (read_copies_after).
std::string read_after_sql(bool origin, const char* seq = "e.seq", const char* where = "") {
  return "SELECT " + event_columns(origin) + ", " + seq
         + ", j.job_id, j.account, j.received_ms, j.sender, j.mime_from, j.reference_job,"
           " j.campaign_id, j.cost_center, j.endpoint"
           " FROM events e LEFT JOIN jobs j ON j.job_id = e.job_id WHERE "
         + where + seq + " > ? ORDER BY " + seq + " LIMIT ?";
}

LoggedEvent logged_at(const Statement& st) {
  LoggedEvent r;
  r.event = event_at(st);
  constexpr int kJob = kEventColumnCount + 1;  // the job's columns, after seq
  r.seq = st.int64(kEventColumnCount);
  r.job.job_id = st.text(kJob);
  r.job.account = st.text(kJob + 1);
  r.job.received_ms = st.int64(kJob + 2);
  r.job.sender = st.text(kJob + 3);
  r.job.mime_from = st.text(kJob + 4);
  r.job.reference_job = st.text(kJob + 5);
  r.job.campaign_id = st.text(kJob + 6);
  r.job.cost_center = st.text(kJob + 7);
  r.job.endpoint_sealed = st.text(kJob + 8);
  return r;
}

}  // namespace

Result<std::unique_ptr<SqliteEventLog>> SqliteEventLog::open(const std::string& path, Mode mode) {
  Db writer;
  if (mode == Mode::kReadWrite) {
    store::sqlite::OpenOptions options;
    options.wal = true;
    options.synchronous = store::sqlite::OpenOptions::Synchronous::kFull;
    options.schema = std::string(kSchema) + message_index::kSchema;
    auto db = Db::open(path, "event log", options);
    if (!db) {
      return tl::unexpected(db.error());
    }
    writer = std::move(*db);
    if (auto added = add_origin(writer); !added) {
      return tl::unexpected(added.error());
    }
    // A log written before the message index existed: its events are indexed now, once.
    if (auto built = message_index::build(writer); !built) {
      return tl::unexpected(built.error());
    }
  }
  // Read-only connections: one for lookups, one for the follower of the log.
  store::sqlite::OpenOptions read_only;
  read_only.read_only = true;
  read_only.busy_timeout_ms = 5000;
  auto reader = Db::open(path, "event log", read_only);
  auto follower = reader ? Db::open(path, "event log", read_only) : Result<Db>();
  if (!reader || !follower) {
    return tl::unexpected(!reader ? reader.error() : follower.error());
  }
  auto origin = has_origin(*reader);
  if (!origin) {
    return tl::unexpected(origin.error());
  }
  std::unique_ptr<SqliteEventLog> log(
      new SqliteEventLog(std::move(writer), std::move(*reader), std::move(*follower)));
  log->origin_ = *origin;
  if (log->db_.handle() != nullptr) {
    log->writer_ = std::thread([l = log.get()] { l->writer_loop(); });
  }
  return log;
}

SqliteEventLog::~SqliteEventLog() {
  close();
}

void SqliteEventLog::append(Event event) {
  // One stored form per recipient (the domain as an A-label), found by either form
  // (for_recipient); done before the lock, it never holds up other appenders.
  event.recipient = idna::address_key(event.recipient);
  std::lock_guard lock(mutex_);
  if (closing_ || db_.handle() == nullptr) {
    logger()->error("event log closed: dropped event job={} mail={}", event.job_id, event.mail_id);
    return;
  }
  queue_.push_back(std::move(event));
  if (queue_.size() == 1 || queue_.size() == kBatch) {
    wake_.notify_one();  // the writer waits for the first event, then gathers for a moment
  }
}

void SqliteEventLog::append_all(std::vector<Event> events, std::function<void()> stored) {
  for (auto& e : events) {
    e.recipient = idna::address_key(e.recipient);
  }
  std::unique_lock lock(mutex_);
  if (closing_ || db_.handle() == nullptr) {
    lock.unlock();
    logger()->error("event log closed: dropped {} events", events.size());
    stored();
    return;
  }
  for (auto& e : events) {
    queue_.push_back(std::move(e));
  }
  queue_waiter(std::move(stored));
  ++urgent_;
  // Always: the writer may be gathering (for the events appended just before), and a waiter
  // ends the gathering.
  wake_.notify_one();
}

void SqliteEventLog::after_stored(std::function<void()> done) {
  std::unique_lock lock(mutex_);
  if (closing_ || db_.handle() == nullptr) {
    lock.unlock();
    done();
    return;
  }
  queue_waiter(std::move(done));
  wake_.notify_one();  // an idle writer starts a batch for it; a gathering one goes on gathering
}

// Under mutex_.
void SqliteEventLog::queue_waiter(std::function<void()> done) {
  waiters_.emplace_back([this, relay = region_.relay, done = std::move(done)](bool) mutable {
    if (relay) {
      relay(stored_up_to_, std::move(done));  // run by the writer, after its batch
    } else {
      done();
    }
  });
}

void SqliteEventLog::append_job(JobInfo info) {
  std::lock_guard lock(mutex_);
  if (closing_ || db_.handle() == nullptr) {
    logger()->error("event log closed: dropped job info job={}", info.job_id);
    return;
  }
  jobs_.push_back(std::move(info));
}

void SqliteEventLog::import(std::vector<Event> events, std::vector<JobInfo> jobs,
                            const std::string& position_name, std::int64_t position,
                            std::function<void(bool)> stored) {
  std::unique_lock lock(mutex_);
  if (closing_ || db_.handle() == nullptr) {
    lock.unlock();
    stored(false);  // nothing stored, the position with it: copied again after the restart
    return;
  }
  for (auto& e : events) {
    queue_.push_back(std::move(e));
  }
  for (auto& j : jobs) {
    jobs_.push_back(std::move(j));
  }
  positions_[position_name] = position;
  waiters_.push_back(std::move(stored));
  ++urgent_;
  wake_.notify_one();
}

void SqliteEventLog::set_region(Region region) {
  std::lock_guard lock(mutex_);
  region_ = std::move(region);
}

void SqliteEventLog::record_position(const std::string& name, std::int64_t position) {
  std::lock_guard lock(mutex_);
  positions_[name] = position;
  wake_.notify_one();
}

Result<std::int64_t> SqliteEventLog::position(const std::string& name) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_, "SELECT seq FROM positions WHERE name = ?");
  st.bind(1, name);
  std::int64_t seq = 0;
  if (auto done = st.each([&] { seq = st.int64(0); }); !done) {
    return tl::unexpected(done.error());
  }
  return seq;
}

void SqliteEventLog::writer_loop() {
  Batch batch;
  std::vector<std::function<void(bool)>> waiters;
  Region region;  // as set when the batch was taken
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::minutes(1), [this] {
        return closing_ || !queue_.empty() || !jobs_.empty() || !positions_.empty()
               || !waiters_.empty();
      });
      if (queue_.empty() && jobs_.empty() && positions_.empty() && waiters_.empty()) {
        if (closing_) {
          return;
        }
        lock.unlock();
        prune();
        continue;
      }
      // Events nobody waits for (delivery's): a few milliseconds of gathering make one
      // transaction (and one sync) of what would be dozens. An acceptance waits for its job's
      // events (append_all): they go at once, with whatever gathered during the last sync.
      wake_.wait_for(lock, std::chrono::milliseconds(5),
                     [this] { return closing_ || queue_.size() >= kBatch || urgent_ > 0; });
      batch.events.assign(std::make_move_iterator(queue_.begin()),
                          std::make_move_iterator(queue_.end()));
      queue_.clear();
      batch.jobs.assign(std::make_move_iterator(jobs_.begin()),
                        std::make_move_iterator(jobs_.end()));
      jobs_.clear();
      batch.positions.swap(positions_);
      waiters.swap(waiters_);
      urgent_ = 0;
      region = region_;
    }
    const bool own = region.stored
                     && std::any_of(batch.events.begin(), batch.events.end(),
                                    [](const Event& e) { return e.origin.empty(); });
    const bool written = write_batch(batch);
    if (written && region.relay && !batch.events.empty()) {
      note_stored();
    }
    if (written && own) {
      region.stored();
    }
    batch.events.clear();
    batch.jobs.clear();
    batch.positions.clear();
    prune();
    for (auto& w : waiters) {
      w(written);
    }
    waiters.clear();
  }
}

void SqliteEventLog::note_stored() {
  Statement st(db_, "SELECT coalesce(max(seq), 0) FROM events");
  if (auto row = st.step(); row && *row) {
    stored_up_to_ = st.int64(0);
  }
}

bool SqliteEventLog::write_batch(const Batch& batch) {
  if (auto written = write_all(batch); !written) {
    logger()->error("event log: a batch of {} events and {} jobs' data is lost: {}",
                    batch.events.size(), batch.jobs.size(), written.error().detail);
    return false;
  }
  return true;
}

// One transaction: the batch is stored whole or not at all.
Result<void> SqliteEventLog::write_all(const Batch& batch) {
  auto tx = Transaction::begin(db_);
  if (!tx) {
    return tl::unexpected(tx.error());
  }
  const std::vector<JobInfo>& jobs = batch.jobs;
  if (!jobs.empty()) {
    Statement js(db_,
                 "INSERT OR REPLACE INTO jobs (job_id, account, received_ms, sender, mime_from,"
                 " reference_job, campaign_id, cost_center, endpoint) VALUES (?,?,?,?,?,?,?,?,?)");
    for (const auto& j : jobs) {
      js.bind(1, j.job_id).bind(2, j.account).bind(3, j.received_ms).bind(4, j.sender);
      js.bind(5, j.mime_from).bind(6, j.reference_job).bind(7, j.campaign_id);
      js.bind(8, j.cost_center).bind(9, j.endpoint_sealed);
      if (auto done = js.run(); !done) {
        return tl::unexpected(done.error());
      }
      js.reset();
    }
  }
  Statement st(
      db_,
      "INSERT OR IGNORE INTO events (tag, ts_ms, kind, job_id, mail_id, account, recipient,"
      " sender, attempt, remote_host, reply, egress, tls, origin, origin_seq)"
      " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  Statement message(db_, message_index::upsert_sql());
  for (const auto& e : batch.events) {
    st.bind(1, e.tag).bind(2, e.ts_ms).bind(3, static_cast<std::int64_t>(e.kind));
    st.bind(4, e.job_id).bind(5, e.mail_id).bind(6, e.account).bind(7, e.recipient);
    st.bind(8, e.sender).bind(9, static_cast<std::int64_t>(e.attempt)).bind(10, e.remote_host);
    st.bind(11, e.reply).bind(12, e.egress).bind(13, e.tls).bind(14, e.origin);
    st.bind(15, e.origin_seq);
    if (auto done = st.run(); !done) {
      return tl::unexpected(done.error());
    }
    st.reset();
    if (db_.changes() == 0) {
      continue;  // a copy of another node's event, stored already (events_copy_tag)
    }
    message.bind(9, static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.handle())));
    if (auto indexed = message_index::add(message, e); !indexed) {
      return tl::unexpected(indexed.error());
    }
  }
  if (!batch.positions.empty()) {
    Statement ps(db_, "INSERT OR REPLACE INTO positions (name, seq) VALUES (?, ?)");
    for (const auto& [name, seq] : batch.positions) {
      if (auto done = ps.bind(1, name).bind(2, seq).run(); !done) {
        return tl::unexpected(done.error());
      }
      ps.reset();
    }
  }
  return tx->commit();
}

Result<std::vector<Event>> SqliteEventLog::for_job(const std::string& job_id) {
  return query("job_id", job_id);
}

Result<std::vector<Event>> SqliteEventLog::for_mail(const std::string& mail_id) {
  return query("mail_id", mail_id);
}

Result<std::vector<Event>> SqliteEventLog::for_recipient(const std::string& address) {
  return query("recipient", idna::address_key(address));
}

Result<std::vector<Event>> SqliteEventLog::query(const char* column, const std::string& value) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_, "SELECT " + event_columns(origin_) + " FROM events e WHERE e." + column
                            + " = ? ORDER BY e.seq");
  st.bind(1, value);
  std::vector<Event> out;
  if (auto done = st.each([&] { out.push_back(event_at(st)); }); !done) {
    return tl::unexpected(done.error());
  }
  return out;
}

Result<std::vector<MessageRow>> SqliteEventLog::search(const MessageQuery& query) {
  std::lock_guard lock(read_mutex_);
  return message_index::find(reader_, query);
}

Result<std::vector<LoggedEvent>> SqliteEventLog::read_after(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(follow_mutex_);
  Statement st(follower_, read_after_sql(origin_));
  st.bind(1, after).bind(2, static_cast<std::int64_t>(limit));
  std::vector<LoggedEvent> out;
  auto done = st.each([&] { out.push_back(logged_at(st)); });
  if (!done) {
    // Nothing half read: the caller asks again from the same place.
    return tl::unexpected(done.error());
  }
  return out;
}

Result<std::vector<LoggedEvent>> SqliteEventLog::read_copies_after(const std::string& origin,
                                                                   std::int64_t after,
                                                                   std::size_t limit) {
  std::vector<LoggedEvent> out;
  if (!origin_ || origin.empty()) {
    return out;  // a log from before copies (read-only): it holds none
  }
  std::lock_guard lock(follow_mutex_);
  Statement st(follower_,
               read_after_sql(true, "e.origin_seq", "e.origin != '' AND e.origin = ? AND "));
  st.bind(1, origin).bind(2, after).bind(3, static_cast<std::int64_t>(limit));
  if (auto done = st.each([&] { out.push_back(logged_at(st)); }); !done) {
    return tl::unexpected(done.error());
  }
  return out;
}

Result<std::int64_t> SqliteEventLog::last_seq() {
  std::lock_guard lock(follow_mutex_);
  Statement st(follower_, "SELECT coalesce(max(seq), 0) FROM events");
  auto row = st.step();
  if (!row) {
    return tl::unexpected(row.error());
  }
  return *row ? st.int64(0) : 0;
}

void SqliteEventLog::prune() {
  const auto now = std::chrono::steady_clock::now();
  const auto retention = retention_.load(std::memory_order_relaxed);
  if (retention.count() <= 0 || now - last_prune_ < std::chrono::minutes(1)) {
    return;
  }
  last_prune_ = now;
  const std::int64_t cutoff = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch() - retention)
                                  .count();
  // A few thousand rows per statement: the writer goes back to new events in between; a
  // message's index row goes once all its events are older than the cutoff. The
  // newest event stays, however old: seq is a rowid, and an emptied table would number the
  // next event 1 again, behind every follower's position.
  for (const char* sql : {message_index::kPruneSql,
                          "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ts_ms < ?1"
                          " AND seq < (SELECT max(seq) FROM events) LIMIT 5000)",
                          "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE "
                          "received_ms < ?1 LIMIT 5000)"}) {
    Statement st(db_, sql);
    st.bind(1, cutoff);
    if (auto done = st.run(); !done) {
      logger()->error("event log retention: {}", done.error().detail);
    } else if (db_.changes() > 0) {
      logger()->info("event log retention: {} rows older than {} ms removed", db_.changes(),
                     retention.count());
      last_prune_ = {};  // more may be waiting: again after the next batch
    }
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
