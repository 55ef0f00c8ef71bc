// /v2/admin/accounts: accounts and their API keys, for the operator (admin token).
//
//   POST   /v2/admin/accounts                 {"name", "password"?, "allowIps"?, "apiAllowIps"?,
//                                              "pool"?, "hourlyLimit"?, "allowUnverifiedDomains"?,
//                                              "sandbox"?, "unsubscribe"?}
//                                             → 201 the account, its SMTP password when generated,
//                                               and a first API key (both shown only here)
//   GET    /v2/admin/accounts[/{account}]     (one account: with its ETag)
//   PATCH  /v2/admin/accounts/{account}       {"allowIps"?, "apiAllowIps"?, "pool"?,
//   "hourlyLimit"?,
//                                              "allowUnverifiedDomains"?, "sandbox"?,
//                                              "unsubscribe"?, "disabled"?}; If-Match
//   DELETE /v2/admin/accounts/{account}       its keys and sender domains go too
//   POST   /v2/admin/accounts/{account}/disable | /enable
//   GET    /v2/admin/accounts/{account}/keys
//   POST   /v2/admin/accounts/{account}/keys  {"name"?} → 201 the key, shown once
//   DELETE /v2/admin/accounts/{account}/keys/{keyId}
#include <boost/json.hpp>
#include <charconv>

#include "api/json_input.h"
#include "api/service.h"
#include "common/base64.h"
#include "common/duration.h"
#include "common/ids.h"
#include "tenancy/api_keys.h"
#include "tenancy/password_hash.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

Response ok(int status, const json::value& v) {
  return Response{status, "application/json", json::serialize(v), {}};
}

json::array cidrs(const std::vector<net::Cidr>& list) {
  json::array out;
  for (const auto& c : list) {
    out.emplace_back(c.to_string());
  }
  return out;
}

json::object account_json(const tenancy::Account& a) {
  json::object o{{"name", a.name},
                 {"disabled", a.disabled},
                 {"pool", a.pool.empty() ? "default" : a.pool},
                 {"allowIps", cidrs(a.allow_ips)},
                 {"apiAllowIps", cidrs(a.api_allow_ips)},
                 {"allowUnverifiedDomains", a.allow_unverified_domains},
                 {"sandbox", a.sandbox},
                 {"unsubscribe", a.unsubscribe},
                 {"createdTs", a.created_ms}};
  if (a.hourly_limit >= 0) {
    o["hourlyLimit"] = a.hourly_limit;
  }
  return o;
}

json::object key_json(const tenancy::ApiKey& k) {
  return json::object{
      {"id", k.id}, {"account", k.account}, {"name", k.name}, {"createdTs", k.created_ms}};
}

Result<std::optional<std::pair<tenancy::Account, std::uint64_t>>> load(store::ConfigStore& config,
                                                                       const std::string& name) {
  auto e = config.get(tenancy::account_key(name));
  if (!e) {
    return tl::unexpected(e.error());
  }
  if (!e->has_value()) {
    return std::optional<std::pair<tenancy::Account, std::uint64_t>>();
  }
  auto a = tenancy::account_from_json((*e)->value);
  if (!a) {
    return tl::unexpected(a.error());
  }
  return std::optional(std::pair(std::move(*a), (*e)->revision));
}

void read_cidrs(JsonObject& o, const char* key, std::vector<net::Cidr>& out) {
  const auto* list = o.array(key);
  if (list == nullptr) {
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& v = (*list)[i];
    auto cidr = v.is_string() ? net::Cidr::parse(std::string_view{v.as_string()})
                              : make_error(ErrorCode::kInvalidArgument, "must be a string");
    if (!cidr) {
      o.errors().push_back(
          FieldError{o.at(key) + "[" + std::to_string(i) + "]", cidr.error().detail});
    } else {
      out.push_back(*cidr);
    }
  }
}

std::string random_password() {
  std::string raw(18, '\0');
  random_bytes(raw.data(), raw.size());
  std::string s = base64_encode(raw);
  for (auto& c : s) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return s;
}

Response create(store::ConfigStore& config, const Request& r) {
  auto body = body_object(r);
  if (auto* p = std::get_if<Response>(&body)) {
    return std::move(*p);
  }
  std::vector<FieldError> errors;
  JsonObject o(std::get<json::object>(body), "", errors);
  tenancy::Account a;
  a.name = o.string("name", true, 64).value_or("");
  if (!a.name.empty() && !tenancy::valid_account_name(a.name)) {
    o.error("name", "letters, digits and - _ . @ only");
  }
  std::string password = o.string("password", false, 256).value_or("");
  const bool generated = password.empty();
  if (!generated && password.size() < 12) {
    o.error("password", "must be 12 characters or more");
  }
  read_cidrs(o, "allowIps", a.allow_ips);
  read_cidrs(o, "apiAllowIps", a.api_allow_ips);
  a.pool = o.string("pool", false, 64).value_or("");
  a.hourly_limit = o.integer("hourlyLimit", 0, std::int64_t{1} << 40).value_or(-1);
  a.allow_unverified_domains = o.boolean("allowUnverifiedDomains").value_or(false);
  a.sandbox = o.boolean("sandbox").value_or(false);
  a.unsubscribe = o.boolean("unsubscribe").value_or(false);
  o.finish();
  if (!errors.empty()) {
    return invalid(errors);
  }
  if (generated) {
    password = random_password();
  }
  a.password_hash = tenancy::hash_password(password);
  a.created_ms = now_ms();
  auto put = config.put(tenancy::account_key(a.name), tenancy::to_json(a), store::Expect::absent());
  if (!put) {
    if (put.error().code == ErrorCode::kConflict) {
      return problem(409, "Conflict", "account " + a.name + " exists");
    }
    return from_error(put.error());
  }
  auto key = tenancy::create_api_key(config, a.name, "initial");
  if (!key) {
    return from_error(key.error());
  }
  json::object out = account_json(a);
  if (generated) {
    out["password"] = password;
  }
  json::object k = key_json(key->key);
  k["key"] = key->secret;
  out["apiKey"] = std::move(k);
  Response res = ok(201, out);
  res.headers.emplace_back("Location", "/v2/admin/accounts/" + a.name);
  return res;
}

Response set_disabled(store::ConfigStore& config, const std::string& name, bool disabled) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto found = load(config, name);
    if (!found) {
      return from_error(found.error());
    }
    if (!found->has_value()) {
      return problem(404, "Not Found", "no account " + name);
    }
    auto& [a, revision] = **found;
    a.disabled = disabled;
    auto put =
        config.put(tenancy::account_key(name), tenancy::to_json(a), store::Expect::at(revision));
    if (put) {
      return ok(200, account_json(a));
    }
    if (put.error().code != ErrorCode::kConflict) {
      return from_error(put.error());
    }
  }
  return problem(409, "Conflict", "the account changed concurrently; try again");
}

// The ETag of an account: its config store revision (the compare-and-set token).
std::string etag(std::uint64_t revision) {
  return "\"" + std::to_string(revision) + "\"";
}

// PATCH: some of an account's settings. With If-Match (the ETag a GET gave) the change applies
// to that revision only, so of two operators editing at two sites exactly one wins and the
// other hears 409. Without it the change applies to what is current (compare-and-set,
// retried): every field sent is applied, nothing is lost silently.
Response update(store::ConfigStore& config, const Request& r, const std::string& name) {
  auto body = body_object(r);
  if (auto* p = std::get_if<Response>(&body)) {
    return std::move(*p);
  }
  const auto& fields = std::get<json::object>(body);
  std::vector<FieldError> errors;
  JsonObject o(fields, "", errors);
  std::vector<net::Cidr> allow_ips;
  std::vector<net::Cidr> api_allow_ips;
  read_cidrs(o, "allowIps", allow_ips);
  read_cidrs(o, "apiAllowIps", api_allow_ips);
  const auto pool = o.string("pool", false, 64);
  const auto hourly = o.integer("hourlyLimit", -1, std::int64_t{1} << 40);
  const auto unverified = o.boolean("allowUnverifiedDomains");
  const auto sandbox = o.boolean("sandbox");
  const auto unsubscribe = o.boolean("unsubscribe");
  const auto disabled = o.boolean("disabled");
  o.finish();
  if (!errors.empty()) {
    return invalid(errors);
  }
  auto if_match = if_match_revision(r, "account");
  if (auto* p = std::get_if<Response>(&if_match)) {
    return std::move(*p);
  }
  const auto expected = std::get<std::optional<std::uint64_t>>(if_match);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto found = load(config, name);
    if (!found) {
      return from_error(found.error());
    }
    if (!found->has_value()) {
      return problem(404, "Not Found", "no account " + name);
    }
    auto& [a, revision] = **found;
    if (expected && *expected != revision) {
      return problem(409, "Conflict",
                     "account " + name + " changed since revision " + std::to_string(*expected)
                         + " (now " + std::to_string(revision) + "); read it again");
    }
    if (fields.contains("allowIps")) {
      a.allow_ips = allow_ips;
    }
    if (fields.contains("apiAllowIps")) {
      a.api_allow_ips = api_allow_ips;
    }
    if (pool) {
      a.pool = *pool;
    }
    if (hourly) {
      a.hourly_limit = *hourly;
    }
    if (unverified) {
      a.allow_unverified_domains = *unverified;
    }
    if (sandbox) {
      a.sandbox = *sandbox;
    }
    if (unsubscribe) {
      a.unsubscribe = *unsubscribe;
    }
    if (disabled) {
      a.disabled = *disabled;
    }
    auto put =
        config.put(tenancy::account_key(name), tenancy::to_json(a), store::Expect::at(revision));
    if (put) {
      Response res = ok(200, account_json(a));
      res.headers.emplace_back("ETag", etag(*put));
      return res;
    }
    if (put.error().code != ErrorCode::kConflict) {
      return from_error(put.error());
    }
    if (expected) {
      return problem(409, "Conflict", "account " + name + " changed concurrently; read it again");
    }
  }
  return problem(409, "Conflict", "the account changed concurrently; try again");
}

Response remove(store::ConfigStore& config, tenancy::DomainService* domains,
                const std::string& name) {
  auto found = load(config, name);
  if (!found) {
    return from_error(found.error());
  }
  if (!found->has_value()) {
    return problem(404, "Not Found", "no account " + name);
  }
  if (auto r = tenancy::revoke_all_api_keys(config, name); !r) {
    return from_error(r.error());
  }
  if (domains != nullptr) {
    auto list = domains->list(name);
    if (!list) {
      return from_error(list.error());
    }
    for (const auto& d : *list) {
      if (auto r = domains->remove(d.name, name); !r) {
        return from_error(r.error());
      }
    }
  }
  if (auto r = config.erase(tenancy::account_key(name), store::Expect::any()); !r) {
    return from_error(r.error());
  }
  return Response{204, "application/json", "", {}};
}

}  // namespace

Response admin_accounts(store::ConfigStore& config, tenancy::DomainService* domains,
                        const Request& r, const std::string& pattern,
                        const std::vector<std::string>& params) {
  if (pattern == "/v2/admin/accounts") {
    if (r.method == "POST") {
      return create(config, r);
    }
    auto all = config.list("account/");
    if (!all) {
      return from_error(all.error());
    }
    json::array out;
    for (const auto& e : *all) {
      if (auto a = tenancy::account_from_json(e.value)) {
        out.push_back(account_json(*a));
      }
    }
    return ok(200, json::object{{"accounts", std::move(out)}});
  }
  const std::string& name = params.at(0);
  if (pattern == "/v2/admin/accounts/{account}" && r.method == "DELETE") {
    return remove(config, domains, name);
  }
  if (pattern == "/v2/admin/accounts/{account}" && r.method == "PATCH") {
    return update(config, r, name);
  }
  if (pattern == "/v2/admin/accounts/{account}/disable") {
    return set_disabled(config, name, true);
  }
  if (pattern == "/v2/admin/accounts/{account}/enable") {
    return set_disabled(config, name, false);
  }
  auto found = load(config, name);
  if (!found) {
    return from_error(found.error());
  }
  if (!found->has_value()) {
    return problem(404, "Not Found", "no account " + name);
  }
  if (pattern == "/v2/admin/accounts/{account}") {
    Response res = ok(200, account_json((*found)->first));
    res.headers.emplace_back("ETag", etag((*found)->second));
    return res;
  }
  if (pattern == "/v2/admin/accounts/{account}/keys/{keyId}") {
    auto revoked = tenancy::revoke_api_key(config, name, params.at(1));
    return revoked ? Response{204, "application/json", "", {}} : from_error(revoked.error());
  }
  if (r.method == "POST") {
    std::string key_name = "api";
    if (!r.body.empty()) {
      auto body = body_object(r);
      if (auto* p = std::get_if<Response>(&body)) {
        return std::move(*p);
      }
      std::vector<FieldError> errors;
      JsonObject o(std::get<json::object>(body), "", errors);
      key_name = o.string("name", false, 64).value_or(key_name);
      o.finish();
      if (!errors.empty()) {
        return invalid(errors);
      }
    }
    auto key = tenancy::create_api_key(config, name, key_name);
    if (!key) {
      return from_error(key.error());
    }
    json::object k = key_json(key->key);
    k["key"] = key->secret;
    return ok(201, k);
  }
  auto keys = tenancy::list_api_keys(config, name);
  if (!keys) {
    return from_error(keys.error());
  }
  json::array out;
  for (const auto& k : *keys) {
    out.push_back(key_json(k));
  }
  return ok(200, json::object{{"keys", std::move(out)}});
}

}  // namespace txmail::api
