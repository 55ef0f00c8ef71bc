#include "tenancy/api_keys.h"

#include <openssl/sha.h>

#include <boost/json.hpp>

#include "common/base64.h"
#include "common/duration.h"
#include "common/ids.h"

namespace txmail::tenancy {

namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "apikey/";

std::string digest_hex(std::string_view secret) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), md);
  return hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string base64url(std::string_view raw) {
  std::string s = base64_encode(raw);
  while (!s.empty() && s.back() == '=') {
    s.pop_back();
  }
  for (auto& c : s) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return s;
}

std::optional<ApiKey> parse(std::string_view key, std::string_view value) {
  boost::system::error_code ec;
  const json::value v = json::parse(value, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.as_object();
  ApiKey k;
  k.id = std::string(key.substr(kPrefix.size(), 16));
  if (const auto* a = o.if_contains("account"); a != nullptr && a->is_string()) {
    k.account = std::string(a->as_string());
  }
  if (const auto* n = o.if_contains("name"); n != nullptr && n->is_string()) {
    k.name = std::string(n->as_string());
  }
  if (const auto* c = o.if_contains("created_ms"); c != nullptr && c->is_int64()) {
    k.created_ms = c->as_int64();
  }
  return k;
}

}  // namespace

Result<NewApiKey> create_api_key(store::ConfigStore& store, const std::string& account,
                                 const std::string& name) {
  std::string raw(32, '\0');
  random_bytes(raw.data(), raw.size());
  NewApiKey out;
  out.secret = "txm_" + base64url(raw);
  const std::string digest = digest_hex(out.secret);
  out.key = ApiKey{digest.substr(0, 16), account, name, now_ms()};
  json::object o{{"account", account}, {"name", name}, {"created_ms", out.key.created_ms}};
  auto put = store.put(std::string(kPrefix) + digest, json::serialize(o), store::Expect::absent());
  if (!put) {
    return tl::unexpected(put.error());
  }
  return out;
}

Result<std::optional<ApiKey>> find_api_key(store::ConfigStore& store, const std::string& secret) {
  if (!secret.starts_with("txm_") || secret.size() != 47) {
    return std::optional<ApiKey>();
  }
  const std::string key = std::string(kPrefix) + digest_hex(secret);
  auto e = store.get(key);
  if (!e) {
    return tl::unexpected(e.error());
  }
  if (!e->has_value()) {
    return std::optional<ApiKey>();
  }
  return parse(key, (*e)->value);
}

Result<std::vector<ApiKey>> list_api_keys(store::ConfigStore& store, const std::string& account) {
  auto all = store.list(kPrefix);
  if (!all) {
    return tl::unexpected(all.error());
  }
  std::vector<ApiKey> out;
  for (const auto& e : *all) {
    if (auto k = parse(e.key, e.value); k && k->account == account) {
      out.push_back(std::move(*k));
    }
  }
  return out;
}

Result<void> revoke_api_key(store::ConfigStore& store, const std::string& account,
                            const std::string& id) {
  auto all = store.list(std::string(kPrefix) + id);
  if (!all) {
    return tl::unexpected(all.error());
  }
  for (const auto& e : *all) {
    if (auto k = parse(e.key, e.value); k && k->account == account && id.size() == 16) {
      auto erased = store.erase(e.key, store::Expect::at(e.revision));
      if (!erased) {
        return tl::unexpected(erased.error());
      }
      return {};
    }
  }
  return make_error(ErrorCode::kNotFound, "no API key " + id + " for account " + account);
}

Result<void> revoke_all_api_keys(store::ConfigStore& store, const std::string& account) {
  auto keys = list_api_keys(store, account);
  if (!keys) {
    return tl::unexpected(keys.error());
  }
  for (const auto& k : *keys) {
    if (auto r = revoke_api_key(store, account, k.id); !r) {
      return r;
    }
  }
  return {};
}

}  // namespace txmail::tenancy
