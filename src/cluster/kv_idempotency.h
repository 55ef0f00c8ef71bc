// KvIdempotency: the Idempotency-Key answers of POST /v2/jobs in the region's bucket
// txmail_idempotency (issue site-3, item 4), so the same key sent to site a and then to site b
// gives one job and the same answer. Internal to the cluster module; ClusterNode hands it out.
//
// A key is the bucket key "k.<sha256(account NUL key)>": fixed length and within the KV key
// alphabet whatever the client sent, and one account never sees another's. Its value is JSON:
// the request's body hash, the answer once there is one (status 0: being processed), and when
// the claim was made. The claim is a create (expect no message on the subject), decided by the
// stream's leader, so two sites cannot both claim a key; every read is a get from the leader
// (a follower may lag). The bucket's TTL (24 h) forgets keys; a claim left by a crash is taken
// over after 10 minutes by a compare-and-set on its revision.
#pragma once

#include <nats/nats.h>

#include "api/idempotency.h"
#include "cluster/nats_connection.h"

namespace txmail::cluster {

class KvIdempotency final : public api::Idempotency {
 public:
  static Result<std::unique_ptr<KvIdempotency>> open(NatsConnection& nats);
  ~KvIdempotency() override;
  KvIdempotency(const KvIdempotency&) = delete;
  KvIdempotency& operator=(const KvIdempotency&) = delete;
  KvIdempotency(KvIdempotency&&) = delete;
  KvIdempotency& operator=(KvIdempotency&&) = delete;

  Claim claim(const std::string& account, const std::string& key,
              const std::string& body_hash) override;
  void finish(const std::string& account, const std::string& key,
              const api::Response& answer) override;
  void abandon(const std::string& account, const std::string& key) override;

  static std::string bucket_key(const std::string& account, const std::string& key);

 private:
  KvIdempotency(NatsConnection& nats, kvStore* kv) : nats_(nats), kv_(kv) {}

  struct Stored {
    std::string body_hash;
    int status = 0;  // 0: claimed, no answer yet
    std::string content_type;
    std::string body;
    std::int64_t created_ms = 0;
    std::uint64_t revision = 0;
  };

  // The key's value as the stream's leader holds it; nullopt: none (or deleted).
  Result<std::optional<Stored>> read(const std::string& bucket_key);

  NatsConnection& nats_;
  kvStore* kv_;
};

}  // namespace txmail::cluster
