// SqliteConfigStore: the embedded config store, one SQLite file in WAL mode with
// synchronous=FULL. Thread-safe (one connection behind a mutex: config writes are rare).
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "store/config_store.h"
#include "store/sqlite.h"

namespace txmail::store {

class SqliteConfigStore final : public ConfigStore {
 public:
  static Result<std::unique_ptr<SqliteConfigStore>> open(const std::string& path);
  ~SqliteConfigStore() override;
  SqliteConfigStore(const SqliteConfigStore&) = delete;
  SqliteConfigStore& operator=(const SqliteConfigStore&) = delete;
  SqliteConfigStore(SqliteConfigStore&&) = delete;
  SqliteConfigStore& operator=(SqliteConfigStore&&) = delete;

  Result<std::optional<ConfigEntry>> get(std::string_view key) override;
  Result<std::vector<ConfigEntry>> list(std::string_view prefix) override;
  Result<std::uint64_t> put(std::string_view key, std::string_view value, Expect expect) override;
  Result<std::uint64_t> erase(std::string_view key, Expect expect) override;
  std::uint64_t watch(std::string prefix, WatchFn fn) override;
  void unwatch(std::uint64_t id) override;
  Result<std::size_t> refresh() override;

 private:
  explicit SqliteConfigStore(sqlite::Db db) : db_(std::move(db)) {}

  Result<std::uint64_t> stored_revision();                   // under mutex_
  Result<std::map<std::string, std::uint64_t>> revisions();  // under mutex_

  Result<std::uint64_t> write(std::string_view key, const std::optional<std::string_view>& value,
                              Expect expect);
  void notify(const ConfigChange& change);

  sqlite::Db db_;
  std::mutex mutex_;                   // the connection
  std::recursive_mutex notify_order_;  // recursive: a watcher may write
  std::mutex watch_mutex_;
  std::map<std::uint64_t, std::pair<std::string, WatchFn>> watchers_;
  std::uint64_t next_watch_ = 1;
  // What this process has seen, to tell other processes' writes from its own (under mutex_).
  std::uint64_t seen_revision_ = 0;
  std::map<std::string, std::uint64_t> seen_;
};

}  // namespace txmail::store
