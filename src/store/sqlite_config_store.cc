#include "store/sqlite_config_store.h"

#include <algorithm>
#include <vector>

namespace txmail::store {

namespace {

using sqlite::Statement;

// The wrapper's errors name the store and its file already.
tl::unexpected<Error> store_error(const Error& e) {
  return tl::unexpected(e);
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
    " revision INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('revision', 0);";

}  // namespace

Result<std::unique_ptr<SqliteConfigStore>> SqliteConfigStore::open(const std::string& path) {
  sqlite::OpenOptions options;
  options.wal = true;
  options.synchronous = sqlite::OpenOptions::Synchronous::kFull;
  options.serialized = true;
  options.busy_timeout_ms = 5000;
  options.schema = kSchema;
  auto db = sqlite::Db::open(path, "config store", options);
  if (!db) {
    return store_error(db.error());
  }
  std::unique_ptr<SqliteConfigStore> store(new SqliteConfigStore(std::move(*db)));
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
  auto row = st.step();
  if (!row) {
    return store_error(row.error());
  }
  if (!*row) {
    return make_error(ErrorCode::kCorrupt, db_.name() + ": no revision");
  }
  return static_cast<std::uint64_t>(st.int64(0));
}

Result<std::map<std::string, std::uint64_t>> SqliteConfigStore::revisions() {
  Statement st(db_, "SELECT key, revision FROM kv");
  std::map<std::string, std::uint64_t> out;
  auto done = st.each([&] { out.emplace(st.text(0), static_cast<std::uint64_t>(st.int64(1))); });
  if (!done) {
    return store_error(done.error());
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
    auto row = st.step();
    if (!row) {
      return store_error(row.error());  // nothing marked seen: the next refresh tries again
    }
    if (*row) {
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

SqliteConfigStore::~SqliteConfigStore() = default;

Result<std::optional<ConfigEntry>> SqliteConfigStore::get(std::string_view key) {
  std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT value, revision FROM kv WHERE key = ?");
  st.bind(1, key);
  auto row = st.step();
  if (!row) {
    return store_error(row.error());
  }
  if (!*row) {
    return std::optional<ConfigEntry>();
  }
  return std::optional<ConfigEntry>(
      ConfigEntry{std::string(key), st.text(0), static_cast<std::uint64_t>(st.int64(1))});
}

Result<std::vector<ConfigEntry>> SqliteConfigStore::list(std::string_view prefix) {
  std::lock_guard lock(mutex_);
  // Range scan [prefix, prefix + 0xff): keys are compared as bytes (BINARY collation).
  Statement st(db_, "SELECT key, value, revision FROM kv WHERE key >= ? AND key < ? ORDER BY key");
  std::string upper(prefix);
  upper.push_back('\xff');
  st.bind(1, prefix).bind(2, upper);
  std::vector<ConfigEntry> out;
  auto done = st.each([&] {
    out.push_back(ConfigEntry{st.text(0), st.text(1), static_cast<std::uint64_t>(st.int64(2))});
  });
  if (!done) {
    return store_error(done.error());
  }
  return out;
}

Result<std::uint64_t> SqliteConfigStore::write(std::string_view key,
                                               const std::optional<std::string_view>& value,
                                               Expect expect) {
  std::unique_lock lock(mutex_);
  auto tx = sqlite::Transaction::begin(db_);  // rolls back on any return before the commit
  if (!tx) {
    return store_error(tx.error());
  }
  std::optional<std::uint64_t> current;
  {
    Statement st(db_, "SELECT revision FROM kv WHERE key = ?");
    st.bind(1, key);
    auto row = st.step();
    if (!row) {
      return store_error(row.error());
    }
    if (*row) {
      current = static_cast<std::uint64_t>(st.int64(0));
    }
  }
  const bool holds = expect.kind == Expect::Kind::kAny
                     || (expect.kind == Expect::Kind::kAbsent && !current)
                     || (expect.kind == Expect::Kind::kRevision && current == expect.revision);
  if (!holds) {
    return make_error(ErrorCode::kConflict, "config store: " + std::string(key) + " changed");
  }
  std::uint64_t revision = 0;
  {
    Statement st(db_, "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value");
    auto row = st.step();
    if (!row || !*row) {
      return row ? make_error(ErrorCode::kCorrupt, db_.name() + ": no revision")
                 : store_error(row.error());
    }
    revision = static_cast<std::uint64_t>(st.int64(0));
    if (auto rest = st.run(); !rest) {
      return store_error(rest.error());
    }
  }
  {
    Statement st(db_, value
                          ? "INSERT INTO kv(key, value, revision) VALUES (?, ?, ?) ON CONFLICT(key)"
                            " DO UPDATE SET value = excluded.value, revision = excluded.revision"
                          : "DELETE FROM kv WHERE key = ?");
    st.bind(1, key);
    if (value) {
      st.bind(2, *value).bind(3, static_cast<std::int64_t>(revision));
    }
    if (auto done = st.run(); !done) {
      return store_error(done.error());
    }
  }
  if (auto done = tx->commit(); !done) {
    return store_error(done.error());
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
