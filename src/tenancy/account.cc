#include "tenancy/account.h"

#include <boost/json.hpp>

namespace txmail::tenancy {

namespace json = boost::json;

std::string account_key(std::string_view name) {
  return "account/" + std::string(name);
}

bool valid_account_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '@';
    if (!ok) {
      return false;
    }
  }
  return true;
}

namespace {

json::array cidr_array(const std::vector<net::Cidr>& cidrs) {
  json::array out;
  for (const auto& c : cidrs) {
    out.emplace_back(c.to_string());
  }
  return out;
}

Result<void> read_cidrs(const json::object& o, const char* name, std::vector<net::Cidr>& out) {
  const auto* ips = o.if_contains(name);
  if (ips == nullptr || !ips->is_array()) {
    return {};
  }
  for (const auto& ip : ips->as_array()) {
    if (!ip.is_string()) {
      return make_error(ErrorCode::kCorrupt,
                        std::string("account: ") + name + " must hold strings");
    }
    auto cidr = net::Cidr::parse(std::string_view{ip.as_string()});
    if (!cidr) {
      return make_error(ErrorCode::kCorrupt, "account: " + cidr.error().detail);
    }
    out.push_back(std::move(*cidr));
  }
  return {};
}

}  // namespace

std::string to_json(const Account& a) {
  json::array ips = cidr_array(a.allow_ips);
  json::object o;
  o["name"] = a.name;
  o["password_hash"] = a.password_hash;
  o["allow_ips"] = std::move(ips);
  o["pool"] = a.pool;
  o["disabled"] = a.disabled;
  o["allow_unverified_domains"] = a.allow_unverified_domains;
  o["sandbox"] = a.sandbox;
  o["unsubscribe"] = a.unsubscribe;
  o["api_allow_ips"] = cidr_array(a.api_allow_ips);
  o["hourly_limit"] = a.hourly_limit;
  o["created_ms"] = a.created_ms;
  return json::serialize(o);
}

Result<Account> account_from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return make_error(ErrorCode::kCorrupt, "account: not a JSON object");
  }
  const json::object& o = v.as_object();
  Account a;
  const auto* name = o.if_contains("name");
  const auto* hash = o.if_contains("password_hash");
  if (name == nullptr || !name->is_string() || hash == nullptr || !hash->is_string()) {
    return make_error(ErrorCode::kCorrupt, "account: name and password_hash are required");
  }
  a.name = std::string(name->as_string());
  a.password_hash = std::string(hash->as_string());
  if (const auto* pool = o.if_contains("pool"); pool != nullptr && pool->is_string()) {
    a.pool = std::string(pool->as_string());
  }
  if (const auto* disabled = o.if_contains("disabled");
      disabled != nullptr && disabled->is_bool()) {
    a.disabled = disabled->as_bool();
  }
  if (const auto* unverified = o.if_contains("allow_unverified_domains");
      unverified != nullptr && unverified->is_bool()) {
    a.allow_unverified_domains = unverified->as_bool();
  }
  if (const auto* sandbox = o.if_contains("sandbox"); sandbox != nullptr && sandbox->is_bool()) {
    a.sandbox = sandbox->as_bool();
  }
  if (const auto* u = o.if_contains("unsubscribe"); u != nullptr && u->is_bool()) {
    a.unsubscribe = u->as_bool();
  }
  if (const auto* limit = o.if_contains("hourly_limit"); limit != nullptr && limit->is_int64()) {
    a.hourly_limit = limit->as_int64();
  }
  if (const auto* created = o.if_contains("created_ms");
      created != nullptr && created->is_int64()) {
    a.created_ms = created->as_int64();
  }
  if (auto r = read_cidrs(o, "allow_ips", a.allow_ips); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_cidrs(o, "api_allow_ips", a.api_allow_ips); !r) {
    return tl::unexpected(r.error());
  }
  return a;
}

}  // namespace txmail::tenancy
