#include "store/sqlite_config_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <vector>

namespace txmail::store {

namespace {

tl::unexpected<Error> sql_error(sqlite3* db, const char* what) {
  return make_error(ErrorCode::kIo,
                    std::string("config store: ") + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }

  ~Statement() { sqlite3_finalize(stmt_); }

  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&&) = delete;
  Statement& operator=(Statement&&) = delete;

  bool ok() const { return stmt_ != nullptr; }

  void bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }

  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }

  int step() { return sqlite3_step(stmt_); }

  std::string text(int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr
               ? std::string()
               : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }

  std::uint64_t integer(int col) {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, col));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
    " revision INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('revision', 0);";

}  // namespace

Result<std::unique_ptr<SqliteConfigStore>> SqliteConfigStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr)
      != SQLITE_OK) {
    auto err = sql_error(db, "open");
    sqlite3_close(db);
    return err;
  }
  sqlite3_busy_timeout(db, 5000);
  char* msg = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string detail = msg != nullptr ? msg : "?";
    sqlite3_free(msg);
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "config store: schema: " + detail);
  }
  std::unique_ptr<SqliteConfigStore> store(new SqliteConfigStore(db));
  auto revision = store->stored_revision();
  auto seen = store->revisions();
  if (!revision || !seen) {
    return tl::unexpected(!revision ? revision.error() : seen.error());
  }
  store->seen_revision_ = *revision;
  store->seen_ = std::move(*seen);
  return store;
}

Result<std::uint64_t> SqliteConfigStore::stored_revision() {
  Statement st(db_, "SELECT value FROM meta WHERE name = 'revision'");
  if (!st.ok() || st.step() != SQLITE_ROW) {
    return sql_error(db_, "revision");
  }
  return st.integer(0);
}

Result<std::map<std::string, std::uint64_t>> SqliteConfigStore::revisions() {
  Statement st(db_, "SELECT key, revision FROM kv");
  if (!st.ok()) {
    return sql_error(db_, "revisions");
  }
  std::map<std::string, std::uint64_t> out;
  int rc = 0;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.emplace(st.text(0), st.integer(1));
  }
  if (rc != SQLITE_DONE) {
    return sql_error(db_, "revisions");
  }
  return out;
}

Result<std::size_t> SqliteConfigStore::refresh() {
  std::unique_lock lock(mutex_);
  auto revision = stored_revision();
  if (!revision) {
    return tl::unexpected(revision.error());
  }
  if (*revision == seen_revision_) {
    return std::size_t{0};
  }
  auto now = revisions();
  if (!now) {
    return tl::unexpected(now.error());
  }
  // Changed keys in revision order, then the erased ones (an erase leaves no row behind).
  std::vector<std::pair<std::uint64_t, std::string>> changed;
  for (const auto& [key, rev] : *now) {
    const auto it = seen_.find(key);
    if (it == seen_.end() || it->second != rev) {
      changed.emplace_back(rev, key);
    }
  }
  std::sort(changed.begin(), changed.end());
  std::vector<ConfigChange> changes;
  for (const auto& [rev, key] : changed) {
    Statement st(db_, "SELECT value FROM kv WHERE key = ?");
    st.bind(1, key);
    if (st.step() == SQLITE_ROW) {
      changes.push_back(ConfigChange{key, st.text(0), rev});
    }
  }
  for (const auto& [key, rev] : seen_) {
    if (!now->contains(key)) {
      changes.push_back(ConfigChange{key, std::nullopt, *revision});
    }
  }
  seen_revision_ = *revision;
  seen_ = std::move(*now);
  std::lock_guard order(notify_order_);
  lock.unlock();
  for (const auto& change : changes) {
    notify(change);
  }
  return changes.size();
}

SqliteConfigStore::~SqliteConfigStore() {
  sqlite3_close(db_);
}

Result<std::optional<ConfigEntry>> SqliteConfigStore::get(std::string_view key) {
  std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT value, revision FROM kv WHERE key = ?");
  if (!st.ok()) {
    return sql_error(db_, "get");
  }
  st.bind(1, key);
  const int rc = st.step();
  if (rc == SQLITE_DONE) {
    return std::optional<ConfigEntry>();
  }
  if (rc != SQLITE_ROW) {
    return sql_error(db_, "get");
  }
  return std::optional<ConfigEntry>(ConfigEntry{std::string(key), st.text(0), st.integer(1)});
}

Result<std::vector<ConfigEntry>> SqliteConfigStore::list(std::string_view prefix) {
  std::lock_guard lock(mutex_);
  // Range scan [prefix, prefix + 0xff): keys are compared as bytes (BINARY collation).
  Statement st(db_, "SELECT key, value, revision FROM kv WHERE key >= ? AND key < ? ORDER BY key");
  if (!st.ok()) {
    return sql_error(db_, "list");
  }
  std::string upper(prefix);
  upper.push_back('\xff');
  st.bind(1, prefix);
  st.bind(2, upper);
  std::vector<ConfigEntry> out;
  int rc = 0;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back(ConfigEntry{st.text(0), st.text(1), st.integer(2)});
  }
  if (rc != SQLITE_DONE) {
    return sql_error(db_, "list");
  }
  return out;
}

Result<std::uint64_t> SqliteConfigStore::write(std::string_view key,
                                               const std::optional<std::string_view>& value,
                                               Expect expect) {
  std::unique_lock lock(mutex_);
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sql_error(db_, "begin");
  }
  auto rollback = [&](tl::unexpected<Error> e) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  };
  std::optional<std::uint64_t> current;
  {
    Statement st(db_, "SELECT revision FROM kv WHERE key = ?");
    st.bind(1, key);
    if (st.step() == SQLITE_ROW) {
      current = st.integer(0);
    }
  }
  const bool holds = expect.kind == Expect::Kind::kAny
                     || (expect.kind == Expect::Kind::kAbsent && !current)
                     || (expect.kind == Expect::Kind::kRevision && current == expect.revision);
  if (!holds) {
    return rollback(
        make_error(ErrorCode::kConflict, "config store: " + std::string(key) + " changed"));
  }
  std::uint64_t revision = 0;
  {
    Statement st(db_, "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value");
    if (st.step() != SQLITE_ROW) {
      return rollback(sql_error(db_, "revision"));
    }
    revision = st.integer(0);
  }
  {
    Statement st(db_, value
                          ? "INSERT INTO kv(key, value, revision) VALUES (?, ?, ?) ON CONFLICT(key)"
                            " DO UPDATE SET value = excluded.value, revision = excluded.revision"
                          : "DELETE FROM kv WHERE key = ?");
    st.bind(1, key);
    if (value) {
      st.bind(2, *value);
      st.bind(3, static_cast<std::int64_t>(revision));
    }
    if (st.step() != SQLITE_DONE) {
      return rollback(sql_error(db_, "write"));
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback(sql_error(db_, "commit"));
  }
  // Another process may have written since this one last looked: then leave the revision
  // mark alone, and refresh() will find that write as well.
  if (seen_revision_ + 1 == revision) {
    seen_revision_ = revision;
  }
  if (value) {
    seen_[std::string(key)] = revision;
  } else {
    seen_.erase(std::string(key));
  }
  // Watchers hear changes in revision order: take the notification lock before letting the
  // next writer in.
  std::lock_guard order(notify_order_);
  lock.unlock();
  notify(ConfigChange{std::string(key),
                      value ? std::optional<std::string>(std::string(*value)) : std::nullopt,
                      revision});
  return revision;
}

Result<std::uint64_t> SqliteConfigStore::put(std::string_view key, std::string_view value,
                                             Expect expect) {
  return write(key, value, expect);
}

Result<std::uint64_t> SqliteConfigStore::erase(std::string_view key, Expect expect) {
  return write(key, std::nullopt, expect);
}

std::uint64_t SqliteConfigStore::watch(std::string prefix, WatchFn fn) {
  std::lock_guard lock(watch_mutex_);
  const std::uint64_t id = next_watch_++;
  watchers_.emplace(id, std::pair{std::move(prefix), std::move(fn)});
  return id;
}

void SqliteConfigStore::unwatch(std::uint64_t id) {
  std::lock_guard lock(watch_mutex_);
  watchers_.erase(id);
}

void SqliteConfigStore::notify(const ConfigChange& change) {
  std::vector<WatchFn> targets;
  {
    std::lock_guard lock(watch_mutex_);
    for (const auto& [id, entry] : watchers_) {
      if (change.key.starts_with(entry.first)) {
        targets.push_back(entry.second);
      }
    }
  }
  for (const auto& fn : targets) {
    fn(change);
  }
}

}  // namespace txmail::store
