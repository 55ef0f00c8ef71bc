// Idempotency keys for POST /v2/jobs: the same key from the same account within 24 hours
// returns the first answer and creates nothing. In embedded mode kept in a small SQLite file of
// its own (<data_dir>/idempotency.db). A key is claimed before the job is processed, so two
// concurrent requests with one key do not both create a job: the second gets 409 until the first is
// done. A claim left by a crash expires after 10 minutes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "api/http.h"
#include "common/result.h"
#include "store/sqlite.h"

namespace txmail::api {

// How long a key's first answer is kept, and how long a claim left by a crash blocks the key.
inline constexpr std::int64_t kIdempotencyKeepMs = 24LL * 3600 * 1000;
inline constexpr std::int64_t kIdempotencyClaimMs = 10LL * 60 * 1000;

// The keys of POST /v2/jobs, wherever they are kept: this SQLite file in embedded mode, the
// region's bucket in cluster mode (cluster/kv_idempotency.h), so a key sent to one site and
// then to the other gives one job. Called on the worker pool: an implementation may block.
class Idempotency {
 public:
  virtual ~Idempotency() = default;

  struct Claimed {};  // go ahead; call finish() or abandon()

  // The first answer, or a problem (in progress, or the key was used for another request).
  using Claim = std::variant<Claimed, Response>;

  virtual Claim claim(const std::string& account, const std::string& key,
                      const std::string& body_hash) = 0;
  virtual void finish(const std::string& account, const std::string& key,
                      const Response& answer) = 0;
  virtual void abandon(const std::string& account, const std::string& key) = 0;

  // The answers every implementation gives.
  static Response reused();       // 422: the key came with another body
  static Response in_progress();  // 409: the first request is still being processed
  static Response replayed(int status, std::string content_type, std::string body);
  static Response unavailable(const Error& e);  // 503, the cause logged

 protected:
  Idempotency() = default;
  Idempotency(const Idempotency&) = default;
  Idempotency& operator=(const Idempotency&) = default;
  Idempotency(Idempotency&&) = default;
  Idempotency& operator=(Idempotency&&) = default;
};

class IdempotencyStore final : public Idempotency {
 public:
  static Result<std::unique_ptr<IdempotencyStore>> open(const std::string& path);
  ~IdempotencyStore() override;
  IdempotencyStore(const IdempotencyStore&) = delete;
  IdempotencyStore& operator=(const IdempotencyStore&) = delete;
  IdempotencyStore(IdempotencyStore&&) = delete;
  IdempotencyStore& operator=(IdempotencyStore&&) = delete;

  Claim claim(const std::string& account, const std::string& key,
              const std::string& body_hash) override;
  void finish(const std::string& account, const std::string& key, const Response& answer) override;
  void abandon(const std::string& account, const std::string& key) override;

 private:
  explicit IdempotencyStore(store::sqlite::Db db) : db_(std::move(db)) {}

  std::mutex mutex_;
  store::sqlite::Db db_;
};

}  // namespace txmail::api
