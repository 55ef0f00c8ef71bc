#include "api/idempotency.h"

#include "api/problem.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::api {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS idempotency ("
    " account TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
    " content_type TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (account, key));"
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created_ms);";

}  // namespace

Response Idempotency::reused() {
  return problem(422, "/problems/idempotency-key-reused", "Unprocessable Content",
                 "this Idempotency-Key was used for a different request", {});
}

Response Idempotency::in_progress() {
  return problem(409, "/problems/idempotency-key-in-use", "Conflict",
                 "a request with this Idempotency-Key is still being processed", {});
}

Response Idempotency::replayed(int status, std::string content_type, std::string body) {
  return Response{
      status, std::move(content_type), std::move(body), {{"Idempotency-Replayed", "true"}}};
}

Response Idempotency::unavailable(const Error& e) {
  logger()->error("idempotency store: {}", e.detail);
  return problem(503, "Service Unavailable", "the idempotency store is unavailable");
}

Result<std::unique_ptr<IdempotencyStore>> IdempotencyStore::open(const std::string& path) {
  store::sqlite::OpenOptions options;
  options.wal = true;
  options.synchronous = store::sqlite::OpenOptions::Synchronous::kNormal;
  options.schema = kSchema;
  auto db = store::sqlite::Db::open(path, "idempotency store", options);
  if (!db) {
    return tl::unexpected(db.error());
  }
  return std::unique_ptr<IdempotencyStore>(new IdempotencyStore(std::move(*db)));
}

IdempotencyStore::~IdempotencyStore() = default;

IdempotencyStore::Claim IdempotencyStore::claim(const std::string& account, const std::string& key,
                                                const std::string& body_hash) {
  std::lock_guard lock(mutex_);
  const std::int64_t now = now_ms();
  // Expired keys go first; when they cannot, the store cannot be written at all.
  store::sqlite::Statement expire(
      db_, "DELETE FROM idempotency WHERE created_ms < ? OR (status = 0 AND created_ms < ?)");
  expire.bind(1, now - kIdempotencyKeepMs).bind(2, now - kIdempotencyClaimMs);
  if (auto done = expire.run(); !done) {
    return unavailable(done.error());
  }
  store::sqlite::Statement find(db_,
                                "SELECT body_hash, status, content_type, body FROM idempotency "
                                "WHERE account = ? AND key = ?");
  find.bind(1, account).bind(2, key);
  auto found = find.step();
  if (!found) {
    return unavailable(found.error());
  }
  if (*found) {
    if (find.text(0) != body_hash) {
      return reused();
    }
    const int status = static_cast<int>(find.int64(1));
    if (status == 0) {
      return in_progress();
    }
    return replayed(status, find.text(2), find.text(3));
  }
  store::sqlite::Statement insert(
      db_, "INSERT INTO idempotency (account, key, body_hash, created_ms) VALUES (?, ?, ?, ?)");
  insert.bind(1, account).bind(2, key).bind(3, body_hash).bind(4, now);
  if (auto done = insert.run(); !done) {
    return unavailable(done.error());
  }
  return Claimed{};
}

void IdempotencyStore::finish(const std::string& account, const std::string& key,
                              const Response& answer) {
  std::lock_guard lock(mutex_);
  store::sqlite::Statement update(db_,
                                  "UPDATE idempotency SET status = ?, content_type = ?, body = ? "
                                  "WHERE account = ? AND key = ?");
  update.bind(1, std::int64_t{answer.status}).bind(2, answer.content_type).bind(3, answer.body);
  update.bind(4, account).bind(5, key);
  if (auto done = update.run(); !done) {
    // The job exists: its answer stands. A retry with this key sees "in progress" until the
    // claim expires.
    logger()->error("idempotency store: the answer for {} is not kept: {}", key,
                    done.error().detail);
  }
}

void IdempotencyStore::abandon(const std::string& account, const std::string& key) {
  std::lock_guard lock(mutex_);
  store::sqlite::Statement erase(db_, "DELETE FROM idempotency WHERE account = ? AND key = ?");
  erase.bind(1, account).bind(2, key);
  if (auto done = erase.run(); !done) {
    logger()->error("idempotency store: the claim on {} stays until it expires: {}", key,
                    done.error().detail);
  }
}

}  // namespace txmail::api
