#include "api/idempotency.h"

#include <sqlite3.h>

#include "api/problem.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::api {

namespace {

constexpr std::int64_t kKeepMs = 24LL * 3600 * 1000;
constexpr std::int64_t kClaimMs = 10LL * 60 * 1000;

constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS idempotency ("
    " account TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
    " content_type TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (account, key));"
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created_ms);";

struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st, nullptr); }
  ~Stmt() { sqlite3_finalize(st); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  void text(int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(st, i, v); }
};

std::string column(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
}

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> IdempotencyStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr)
          != SQLITE_OK
      || sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : "?";
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "idempotency store " + path + ": " + detail);
  }
  return std::unique_ptr<IdempotencyStore>(new IdempotencyStore(db));
}

IdempotencyStore::~IdempotencyStore() {
  sqlite3_close(db_);
}

IdempotencyStore::Claim IdempotencyStore::claim(const std::string& account, const std::string& key,
                                                const std::string& body_hash) {
  std::lock_guard lock(mutex_);
  const std::int64_t now = now_ms();
  {
    Stmt expire(db_, "DELETE FROM idempotency WHERE created_ms < ? OR (status = 0 AND created_ms < ?)");
    expire.integer(1, now - kKeepMs);
    expire.integer(2, now - kClaimMs);
    sqlite3_step(expire.st);
  }
  Stmt find(db_, "SELECT body_hash, status, content_type, body FROM idempotency WHERE account = ? AND key = ?");
  find.text(1, account);
  find.text(2, key);
  if (sqlite3_step(find.st) == SQLITE_ROW) {
    if (column(find.st, 0) != body_hash) {
      return problem(422, "/problems/idempotency-key-reused", "Unprocessable Content",
                     "this Idempotency-Key was used for a different request", {});
    }
    const int status = sqlite3_column_int(find.st, 1);
    if (status == 0) {
      return problem(409, "/problems/idempotency-key-in-use", "Conflict",
                     "a request with this Idempotency-Key is still being processed", {});
    }
    Response r{status, column(find.st, 2), column(find.st, 3), {{"Idempotency-Replayed", "true"}}};
    return r;
  }
  Stmt insert(db_, "INSERT INTO idempotency (account, key, body_hash, created_ms) VALUES (?, ?, ?, ?)");
  insert.text(1, account);
  insert.text(2, key);
  insert.text(3, body_hash);
  insert.integer(4, now);
  if (sqlite3_step(insert.st) != SQLITE_DONE) {
    logger()->error("idempotency store: {}", sqlite3_errmsg(db_));
    return problem(503, "Service Unavailable", "the idempotency store is unavailable");
  }
  return Claimed{};
}

void IdempotencyStore::finish(const std::string& account, const std::string& key, const Response& answer) {
  std::lock_guard lock(mutex_);
  Stmt update(db_, "UPDATE idempotency SET status = ?, content_type = ?, body = ? WHERE account = ? AND key = ?");
  update.integer(1, answer.status);
  update.text(2, answer.content_type);
  update.text(3, answer.body);
  update.text(4, account);
  update.text(5, key);
  if (sqlite3_step(update.st) != SQLITE_DONE) {
    logger()->error("idempotency store: {}", sqlite3_errmsg(db_));
  }
}

void IdempotencyStore::abandon(const std::string& account, const std::string& key) {
  std::lock_guard lock(mutex_);
  Stmt erase(db_, "DELETE FROM idempotency WHERE account = ? AND key = ?");
  erase.text(1, account);
  erase.text(2, key);
  sqlite3_step(erase.st);
}

}  // namespace txmail::api
