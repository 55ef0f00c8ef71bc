// API keys: "txm_" and 43 characters of base64url (32 random bytes). Shown once, when created;
// the config store keeps only the key's SHA-256 ("apikey/<hex>"), which is safe for a secret of
// 256 random bits (no slow hash needed, and a lookup is one read). A key's id is the first 16
// hex digits of that hash: enough to list and revoke keys without knowing them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/config_store.h"

namespace txmail::tenancy {

struct ApiKey {
  std::string id;
  std::string account;
  std::string name;  // what the customer called it
  std::int64_t created_ms = 0;
};

struct NewApiKey {
  ApiKey key;
  std::string secret;  // the key itself: shown once
};

Result<NewApiKey> create_api_key(store::ConfigStore& store, const std::string& account,
                                 const std::string& name);
// The key a secret names; nullopt when there is none (or the secret is malformed).
Result<std::optional<ApiKey>> find_api_key(store::ConfigStore& store, const std::string& secret);
Result<std::vector<ApiKey>> list_api_keys(store::ConfigStore& store, const std::string& account);
// kNotFound unless the account has a key with that id.
Result<void> revoke_api_key(store::ConfigStore& store, const std::string& account,
                            const std::string& id);
// Every key of the account (when the account is deleted).
Result<void> revoke_all_api_keys(store::ConfigStore& store, const std::string& account);

}  // namespace txmail::tenancy
