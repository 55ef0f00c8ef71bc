#include "cluster/kv_idempotency.h"

#include <boost/json.hpp>

#include "cluster/cluster.h"
#include "cluster/sha256.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::cluster {

namespace json = boost::json;

namespace {

std::string encode(const std::string& body_hash, int status, const std::string& content_type,
                   const std::string& body, std::int64_t created_ms) {
  return json::serialize(json::object{{"hash", body_hash},
                                      {"status", status},
                                      {"type", content_type},
                                      {"body", body},
                                      {"created", created_ms}});
}

}  // namespace

Result<std::unique_ptr<KvIdempotency>> KvIdempotency::open(NatsConnection& nats) {
  kvStore* kv = nullptr;
  if (natsStatus s = js_KeyValue(&kv, nats.js(), kIdempotencyBucket); s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster: the bucket ") + kIdempotencyBucket
                                            + " (made by `txmail cluster init`)"));
  }
  return std::unique_ptr<KvIdempotency>(new KvIdempotency(nats, kv));
}

KvIdempotency::~KvIdempotency() {
  kvStore_Destroy(kv_);
}

std::string KvIdempotency::bucket_key(const std::string& account, const std::string& key) {
  Sha256 h;
  h.update(account);
  h.update(std::string_view("\0", 1));
  h.update(key);
  return "k." + h.hex();
}

Result<std::optional<KvIdempotency::Stored>> KvIdempotency::read(const std::string& bucket_key) {
  const std::string stream = std::string("KV_") + kIdempotencyBucket;
  const std::string subject = std::string("$KV.") + kIdempotencyBucket + "." + bucket_key;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = nats_.options().timeout.count();
  NatsMsg m;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&m.msg, nats_.js(), stream.c_str(), subject.c_str(), &jo, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
    return std::nullopt;
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "idempotency key " + bucket_key));
  }
  const char* op = nullptr;
  if (natsMsgHeader_Get(m.msg, "KV-Operation", &op) == NATS_OK && op != nullptr) {
    return std::nullopt;  // DEL or PURGE: abandoned
  }
  std::error_code ec;
  auto v = json::parse(std::string_view(natsMsg_GetData(m.msg),
                                        static_cast<std::size_t>(natsMsg_GetDataLength(m.msg))),
                       ec);
  if (ec || !v.is_object()) {
    return make_error(ErrorCode::kCorrupt, "idempotency key " + bucket_key + ": not JSON");
  }
  const auto& o = v.as_object();
  auto text = [&o](const char* name) {
    const auto* f = o.if_contains(name);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  auto number = [&o](const char* name) {
    const auto* f = o.if_contains(name);
    return f != nullptr && f->is_int64() ? f->as_int64() : std::int64_t{0};
  };
  return Stored{.body_hash = text("hash"),
                .status = static_cast<int>(number("status")),
                .content_type = text("type"),
                .body = text("body"),
                .created_ms = number("created"),
                .revision = natsMsg_GetSequence(m.msg)};
}

KvIdempotency::Claim KvIdempotency::claim(const std::string& account, const std::string& key,
                                          const std::string& body_hash) {
  const std::string k = bucket_key(account, key);
  // A claim that loses a race reads the winner's value; a value deleted between the two
  // (abandoned) is claimed again. Three rounds settle any race but a storm.
  natsStatus refused = NATS_OK;  // a create refused although no value was found
  for (int round = 0; round < 3; ++round) {
    const std::int64_t now = now_ms();
    const std::string claimed = encode(body_hash, 0, "", "", now);
    std::uint64_t rev = 0;
    natsStatus s =
        kvStore_Create(&rev, kv_, k.c_str(), claimed.data(), static_cast<int>(claimed.size()));
    if (s == NATS_OK) {
      return Claimed{};
    }
    if (nats_unreachable(s)) {
      return unavailable(nats_error(s, "claiming an idempotency key"));
    }
    auto found = read(k);
    if (!found) {
      return unavailable(found.error());
    }
    if (!*found) {
      refused = s;
      continue;
    }
    refused = NATS_OK;
    const Stored& st = **found;
    if (st.body_hash != body_hash) {
      return reused();
    }
    if (st.status != 0) {
      return replayed(st.status, st.content_type, st.body);
    }
    if (now - st.created_ms < api::kIdempotencyClaimMs) {
      return in_progress();
    }
    // A claim left by a crash: taken over only if nobody else did meanwhile.
    if (kvStore_Update(&rev, kv_, k.c_str(), claimed.data(), static_cast<int>(claimed.size()),
                       st.revision)
        == NATS_OK) {
      return Claimed{};
    }
  }
  if (refused != NATS_OK) {
    return unavailable(nats_error(refused, "claiming an idempotency key"));
  }
  return in_progress();
}

void KvIdempotency::finish(const std::string& account, const std::string& key,
                           const api::Response& answer) {
  const std::string k = bucket_key(account, key);
  // The answer replaces this request's claim, by compare-and-set: a claim taken over meanwhile
  // (this one was older than 10 minutes) is not overwritten. When it cannot be written the job
  // still exists and its answer stands; a retry with the key sees "in progress" until the claim
  // is 10 minutes old.
  auto found = read(k);
  if (!found || !*found) {
    logger()->error("idempotency key {}: the answer is not kept in the region ({})", key,
                    found ? "the claim is gone" : found.error().detail);
    return;
  }
  const Stored& claim = **found;
  const std::string value =
      encode(claim.body_hash, answer.status, answer.content_type, answer.body, claim.created_ms);
  std::uint64_t rev = 0;
  if (natsStatus s = kvStore_Update(&rev, kv_, k.c_str(), value.data(),
                                    static_cast<int>(value.size()), claim.revision);
      s != NATS_OK) {
    logger()->error("idempotency key {}: the answer is not kept in the region ({})", key,
                    natsStatus_GetText(s));
  }
}

void KvIdempotency::abandon(const std::string& account, const std::string& key) {
  const std::string k = bucket_key(account, key);
  if (natsStatus s = kvStore_Delete(kv_, k.c_str()); s != NATS_OK) {
    logger()->error("idempotency key {}: the claim stays for 10 minutes ({})", key,
                    natsStatus_GetText(s));
  }
}

}  // namespace txmail::cluster
