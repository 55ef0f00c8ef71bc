#include "api/domains.h"

#include "api/json_input.h"
#include "dkim/key.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

Response ok(int status, const json::value& v) {
  return Response{status, "application/json", json::serialize(v), {}};
}

std::string string_field(const json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

json::object domain_json(const tenancy::SenderDomain& d) {
  json::array keys;
  for (const auto& k : d.keys) {
    keys.push_back(json::object{{"selector", k.selector},
                                {"algorithm", dkim::algorithm_name(k.algorithm)},
                                {"state", tenancy::state_name(k.state)},
                                {"created_ms", k.created_ms},
                                {"activated_ms", k.activated_ms},
                                {"retire_at_ms", k.retire_at_ms},
                                {"dns_record", k.dns_record}});
  }
  json::array records;
  for (const auto& c : d.checks) {
    records.push_back(json::object{{"purpose", c.purpose},
                                   {"name", c.name},
                                   {"type", c.type},
                                   {"value", c.value},
                                   {"alternative_cname", c.alternative_cname},
                                   {"required", c.required},
                                   {"status", c.status},
                                   {"found", c.found}});
  }
  return json::object{
      {"name", d.name},
      {"account", d.account},
      {"verified", d.verified},
      {"verified_ms", d.verified_ms},
      {"checked_ms", d.checked_ms},
      // The envelope sender's domain: bounce.<name> once its records verify.
      {"return_path_domain", d.return_path ? tenancy::return_path_domain(d.name) : std::string()},
      {"keys", std::move(keys)},
      {"records", std::move(records)}};
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
std::optional<Response> DomainsApi::handle(const Request& r) {
  constexpr std::string_view kPrefix = "/v2/domains";
  std::string_view path = r.path;
  if (!path.starts_with(kPrefix) || (path.size() > kPrefix.size() && path[kPrefix.size()] != '/')) {
    return std::nullopt;
  }
  path.remove_prefix(kPrefix.size());
  if (path.starts_with("/")) {
    path.remove_prefix(1);
  }
  if (path.ends_with("/")) {
    path.remove_suffix(1);
  }
  const std::size_t slash = path.find('/');
  const std::string name(path.substr(0, slash));
  const std::string action(slash == std::string_view::npos ? "" : path.substr(slash + 1));

  if (name.empty()) {
    if (r.method == "GET") {
      auto list = domains_.list(r.account);
      if (!list) {
        return from_error(list.error());
      }
      json::array out;
      for (const auto& d : *list) {
        out.push_back(domain_json(d));
      }
      return ok(200, json::object{{"domains", std::move(out)}});
    }
    if (r.method == "POST") {
      auto body = body_object(r);
      if (auto* p = std::get_if<Response>(&body)) {
        return *p;
      }
      const auto& o = std::get<json::object>(body);
      const std::string domain = string_field(o, "domain");
      std::string account = string_field(o, "account");
      if (domain.empty()) {
        return problem(400, "Bad Request", "\"domain\" is required");
      }
      if (!r.account.empty()) {
        if (!account.empty() && account != r.account) {
          return problem(403, "Forbidden", "a domain can be added to your own account only");
        }
        account = r.account;
      } else if (account.empty()) {
        return problem(400, "Bad Request", "\"account\" is required with the admin token");
      }
      auto added = domains_.add(domain, account);
      return added ? ok(201, domain_json(*added)) : from_error(added.error());
    }
    return problem(405, "Method Not Allowed", r.method + " is not allowed on /v2/domains");
  }

  if (action.empty()) {
    if (r.method == "GET") {
      auto d = domains_.get(name, r.account);
      return d ? ok(200, domain_json(*d)) : from_error(d.error());
    }
    if (r.method == "DELETE") {
      auto removed = domains_.remove(name, r.account);
      return removed ? Response{204, "application/json", "", {}} : from_error(removed.error());
    }
    return problem(405, "Method Not Allowed", r.method + " is not allowed on a domain");
  }
  if (r.method != "POST") {
    return problem(405, "Method Not Allowed", "use POST for /" + action);
  }
  if (action == "verify") {
    return verify(name, r.account);
  }
  if (action == "rotate") {
    auto d = domains_.rotate(name, r.account);
    return d ? ok(200, domain_json(*d)) : from_error(d.error());
  }
  if (action == "keys") {
    auto body = body_object(r);
    if (auto* p = std::get_if<Response>(&body)) {
      return *p;
    }
    const std::string pem = string_field(std::get<json::object>(body), "pem");
    if (pem.empty()) {
      return problem(400, "Bad Request", "\"pem\" is required");
    }
    auto d = domains_.import(name, r.account, pem);
    return d ? ok(200, domain_json(*d)) : from_error(d.error());
  }
  return problem(404, "Not Found", "no such endpoint: /v2/domains/" + name + "/" + action);
}

Response DomainsApi::verify(const std::string& name, const std::string& account) {
  auto d = domains_.get(name, account);
  if (!d) {
    return from_error(d.error());
  }
  auto found = resolver_(tenancy::names_to_verify(*d, domains_.settings()));
  if (!found) {
    return problem(503, "Service Unavailable",
                   "DNS lookups failed, nothing concluded: " + found.error().detail);
  }
  auto verified = domains_.verify(name, account, tenancy::lookup_in(*found));
  return verified ? ok(200, domain_json(*verified)) : from_error(verified.error());
}

}  // namespace txmail::api
