// Idempotency keys for POST /v2/jobs: the same key from the same account within 24 hours
// returns the first answer and creates nothing. Kept in a small SQLite file of its own
// (<data_dir>/idempotency.db). A key is claimed before the job is processed, so two concurrent
// requests with one key do not both create a job: the second gets 409 until the first is done.
// A claim left by a crash expires after 10 minutes.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "api/http.h"
#include "common/result.h"
#include "store/sqlite.h"

namespace txmail::api {

class IdempotencyStore {
 public:
  static Result<std::unique_ptr<IdempotencyStore>> open(const std::string& path);
  ~IdempotencyStore();
  IdempotencyStore(const IdempotencyStore&) = delete;
  IdempotencyStore& operator=(const IdempotencyStore&) = delete;
  IdempotencyStore(IdempotencyStore&&) = delete;
  IdempotencyStore& operator=(IdempotencyStore&&) = delete;

  struct Claimed {};  // go ahead; call finish() or abandon()

  // The first answer, or a problem (in progress, or the key was used for another request).
  using Claim = std::variant<Claimed, Response>;

  Claim claim(const std::string& account, const std::string& key, const std::string& body_hash);
  void finish(const std::string& account, const std::string& key, const Response& answer);
  void abandon(const std::string& account, const std::string& key);

 private:
  explicit IdempotencyStore(store::sqlite::Db db) : db_(std::move(db)) {}

  std::mutex mutex_;
  store::sqlite::Db db_;
};

}  // namespace txmail::api
