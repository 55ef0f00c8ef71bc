#include "api/service.h"

#include <openssl/crypto.h>

#include <boost/json.hpp>

#include "api/credentials.h"
#include "api/domains.h"
#include "api/jobs.h"
#include "api/message_search.h"
#include "api/openapi.h"
#include "api/queues.h"
#include "api/sandbox.h"
#include "api/status.h"
#include "api/unsubscribe.h"
#include "api/webhook_settings.h"
#include "common/duration.h"
#include "common/log.h"
#include "tenancy/api_keys.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

const std::vector<Route> kRoutes = {
    {"GET", "/healthz", Access::kPublic, false},
    {"GET", "/readyz", Access::kPublic, false},
    {"GET", "/openapi.json", Access::kPublic, false},
    {"GET", "/metrics", Access::kPublic, false},
    // One-click unsubscribe (api/unsubscribe.h): the token is the credential.
    {"GET", "/u/{token}", Access::kPublic, false},
    {"POST", "/u/{token}", Access::kPublic, false},
    {"POST", "/v2/jobs", Access::kAccount, true},
    {"GET", "/v2/jobs/{jobId}", Access::kEither, false},
    {"GET", "/v2/messages", Access::kEither, false},
    {"GET", "/v2/messages/{mailId}", Access::kEither, false},
    {"GET", "/v2/reports/deliveries.csv", Access::kEither, false},
    {"GET", "/v2/sandbox/messages", Access::kEither, false},
    {"GET", "/v2/sandbox/messages/{mailId}", Access::kEither, false},
    {"GET", "/v2/domains", Access::kEither, false},
    {"POST", "/v2/domains", Access::kEither, false},
    {"GET", "/v2/domains/{domain}", Access::kEither, false},
    {"DELETE", "/v2/domains/{domain}", Access::kEither, false},
    {"POST", "/v2/domains/{domain}/verify", Access::kEither, false},
    {"POST", "/v2/domains/{domain}/rotate", Access::kEither, false},
    {"POST", "/v2/domains/{domain}/keys", Access::kEither, false},
    {"GET", "/v2/suppressions", Access::kEither, false},
    {"POST", "/v2/suppressions", Access::kEither, false},
    {"GET", "/v2/suppressions/{email}", Access::kEither, false},
    {"DELETE", "/v2/suppressions/{email}", Access::kEither, false},
    {"GET", "/v2/webhooks/endpoint", Access::kEither, false},
    {"PUT", "/v2/webhooks/endpoint", Access::kEither, false},
    {"DELETE", "/v2/webhooks/endpoint", Access::kEither, false},
    {"GET", "/v2/webhooks/secret", Access::kEither, false},
    {"GET", "/v2/webhooks/dead-letters", Access::kEither, false},
    {"POST", "/v2/webhooks/dead-letters/replay", Access::kEither, false},
    {"GET", "/v2/admin/accounts", Access::kAdmin, false},
    {"POST", "/v2/admin/accounts", Access::kAdmin, false},
    {"GET", "/v2/admin/accounts/{account}", Access::kAdmin, false},
    {"DELETE", "/v2/admin/accounts/{account}", Access::kAdmin, false},
    {"POST", "/v2/admin/accounts/{account}/disable", Access::kAdmin, false},
    {"POST", "/v2/admin/accounts/{account}/enable", Access::kAdmin, false},
    {"GET", "/v2/admin/accounts/{account}/keys", Access::kAdmin, false},
    {"POST", "/v2/admin/accounts/{account}/keys", Access::kAdmin, false},
    {"DELETE", "/v2/admin/accounts/{account}/keys/{keyId}", Access::kAdmin, false},
    {"PATCH", "/v2/admin/accounts/{account}", Access::kAdmin, false},
    {"POST", "/v2/admin/drain", Access::kAdmin, false},
    {"GET", "/v2/admin/egress", Access::kAdmin, false},
    {"PUT", "/v2/admin/egress", Access::kAdmin, false},
    {"POST", "/v2/admin/resume", Access::kAdmin, false},
    {"GET", "/v2/admin/queues", Access::kAdmin, false},
    {"POST", "/v2/admin/queues/pause", Access::kAdmin, false},
    {"POST", "/v2/admin/queues/resume", Access::kAdmin, false},
    {"POST", "/v2/admin/queues/retry", Access::kAdmin, false},
};

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Response unauthorized(const std::string& detail) {
  Response r = problem(401, "Unauthorized", detail);
  r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="txmail", Bearer realm="txmail")");
  return r;
}

}  // namespace

const std::vector<Route>& routes() {
  return kRoutes;
}

std::optional<Response> ApiService::check_credentials(const Request& request) {
  if (request.path.starts_with("/u/") || Console::owns(request.path)) {
    return std::nullopt;  // the token is the credential, checked with the body
  }
  auto who = authenticate(request, Access::kEither);
  if (auto* refused = std::get_if<Response>(&who)) {
    return std::move(*refused);
  }
  return std::nullopt;
}

std::variant<std::string, Response> ApiService::authenticate(const Request& r, Access access) {
  auto who = authenticate_request(r, access);
  auto* refused = std::get_if<Response>(&who);
  if (refused == nullptr || refused->status != 401 || !r.header("authorization").empty()) {
    return who;
  }
  const auto session = cookie_value(r.header("cookie"), kSessionCookie);
  if (session) {
    sessions_.erase(*session);  // its credentials no longer hold: not tried again
  }
  if (session || r.header("x-txmail-console") == "1") {
    challenge_bearer_only(*refused);  // the console's script: no password dialog of the browser's
  }
  return who;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
std::variant<std::string, Response> ApiService::authenticate_request(const Request& r,
                                                                     Access access) {
  using Scheme = Credentials::Scheme;
  std::string authorization = r.header("authorization");
  if (authorization.empty()) {
    if (auto id = cookie_value(r.header("cookie"), kSessionCookie)) {
      auto session = sessions_.find(*id);
      if (!session) {
        return unauthorized("the console session has ended; log in again");
      }
      // SameSite=Strict keeps the cookie from other sites' requests; the token is the second lock.
      if (r.method != "GET" && r.method != "HEAD"
          && !same_secret(r.header("x-csrf-token"), session->csrf)) {
        return problem(403, "Forbidden",
                       "a change through a console session needs its CSRF token in X-CSRF-Token");
      }
      authorization = std::move(session->authorization);
    }
  }
  const Credentials given = read_credentials(authorization);
  if (given.scheme == Scheme::kNone) {
    return unauthorized("credentials are required: HTTP Basic or Bearer");
  }
  // Guessing is slow and limited (SMTP AUTH shares the counts): per (address, user) and per
  // address. The admin token is checked first: no account's failures ever block it.
  const auto now = std::chrono::steady_clock::now();
  auto refused = [this]() {
    Response res = problem(429, "Too Many Requests",
                           "too many failed authentications from this address; try again later");
    res.headers.emplace_back("Retry-After", std::to_string(d_.auth_block.count()));
    return res;
  };
  // Whose failures: a user's name, or for an API key (which names none) a digest of the key,
  // so one tenant's revoked key retried behind a NAT does not lock out the others' keys.
  std::string who = "(api key)";
  if (given.scheme == Scheme::kBearer) {
    who = "(api key " + std::to_string(std::hash<std::string>{}(given.secret)) + ")";
  } else if (given.scheme == Scheme::kBasic) {
    who = given.user;
  }
  auto failed = [this, &r, now, &who](const std::string& detail) {
    if (d_.auth_failures != nullptr) {
      d_.auth_failures->record_failure(r.remote_ip, who, now);
    }
    return unauthorized(detail);
  };
  std::string account;
  bool operator_token = false;
  if (given.scheme == Scheme::kBearer && same_secret(given.secret, d_.admin_token)) {
    operator_token = true;
  } else if (d_.auth_failures != nullptr
             && (d_.auth_failures->blocked(r.remote_ip, now)
                 || d_.auth_failures->blocked(r.remote_ip, who, now))) {
    return refused();
  } else if (given.scheme == Scheme::kMalformed) {
    return unauthorized("malformed Basic credentials");
  } else if (given.scheme == Scheme::kUnsupported) {
    return unauthorized("unsupported authorization scheme");
  } else if (given.scheme == Scheme::kBearer) {
    auto key = tenancy::find_api_key(d_.config, given.secret);
    if (!key) {
      return from_error(key.error());
    }
    if (!key->has_value()) {
      return failed("unknown API key");
    }
    account = (*key)->account;
  } else if (auto cached = d_.authenticator.cached(given.user, given.secret)) {
    account = *cached;
  } else if (auto verified = d_.authenticator.verify(given.user, given.secret)) {
    account = *verified;
  } else {
    logger()->info("http auth failed client={} user={}", r.remote_ip, printable(given.user));
    return failed("wrong account name or password");
  }

  if (operator_token) {
    const std::string as = r.header("x-txmail-account");
    if (access == Access::kAdmin || (as.empty() && access == Access::kEither)) {
      return std::string();
    }
    if (as.empty()) {
      return problem(403, "Forbidden",
                     "this endpoint acts for an account: with the admin token, name it in "
                     "X-Txmail-Account");
    }
    if (!d_.accounts.find(as)) {
      return problem(404, "Not Found", "no account " + printable(as));
    }
    return as;
  }
  if (access == Access::kAdmin) {
    return problem(403, "Forbidden", "this endpoint needs the admin token");
  }
  const auto a = d_.accounts.find(account);
  if (!a || a->disabled) {
    return unauthorized("the account is disabled");
  }
  if (!a->api_allow_ips.empty()) {
    bool allowed = false;
    for (const auto& cidr : a->api_allow_ips) {
      allowed = allowed || cidr.contains(r.remote_ip);
    }
    if (!allowed) {
      logger()->info("http refused client={} account={}: not in api_allow_ips", r.remote_ip,
                     account);
      return problem(403, "Forbidden", "this account may not use the API from " + r.remote_ip);
    }
  }
  return account;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
void ApiService::handle(Request r, HttpServer::Done done) {
  if (Console::owns(r.path)) {
    done(console_.handle(r));
    return;
  }
  const Route* route = nullptr;
  std::vector<std::string> params;
  std::string allow;
  for (const auto& candidate : kRoutes) {
    auto m = match_route(candidate.pattern, r.path);
    if (!m) {
      continue;
    }
    if (candidate.method == r.method) {
      route = &candidate;
      params = std::move(*m);
      break;
    }
    allow += (allow.empty() ? "" : ", ") + candidate.method;
  }
  if (route == nullptr) {
    if (!allow.empty()) {
      Response res = problem(405, "Method Not Allowed", r.method + " is not allowed on " + r.path);
      res.headers.emplace_back("Allow", allow);
      done(std::move(res));
    } else {
      done(problem(404, "Not Found", "no such endpoint: " + r.path));
    }
    return;
  }

  if (route->access != Access::kPublic) {
    auto who = authenticate(r, route->access);
    if (auto* res = std::get_if<Response>(&who)) {
      done(std::move(*res));
      return;
    }
    r.account = std::get<std::string>(who);
  }
  if (route->counted && !r.account.empty()) {
    const auto a = d_.accounts.find(r.account);
    if (a && a->disabled) {  // the operator acting for a disabled account sends nothing either
      done(problem(403, "Forbidden", "the account " + r.account + " is disabled"));
      return;
    }
    const std::int64_t hourly =
        a && a->hourly_limit >= 0 ? a->hourly_limit : d_.default_hourly_limit;
    if (const std::int64_t wait = d_.limiter.acquire(r.account, hourly, now_ms()); wait > 0) {
      Response res = problem(
          429, "Too Many Requests",
          "the account's limit of " + std::to_string(hourly) + " requests an hour is reached");
      res.headers.emplace_back("Retry-After", std::to_string(wait));
      done(std::move(res));
      return;
    }
  }

  const std::string& p = route->pattern;
  if (p == "/healthz") {
    done(Response{200, "application/json", R"({"status":"ok"})", {}});
  } else if (p == "/readyz") {
    const auto why = d_.unready ? d_.unready() : std::nullopt;
    done(Response{why ? 503 : 200,
                  "application/json",
                  why ? json::serialize(json::object{{"status", "not ready"}, {"reason", *why}})
                      : R"({"status":"ready"})",
                  {}});
  } else if (p == "/metrics") {
    done(d_.metrics
             ? Response{200, "text/plain; version=0.0.4; charset=utf-8", d_.metrics(), {}}
             : problem(503, "Service Unavailable", "metrics are not available on this node"));
  } else if (p == "/u/{token}" && d_.unsubscribes != nullptr) {
    d_.unsubscribes->respond(r, params[0], std::move(done));
  } else if (p == "/u/{token}") {
    done(problem(404, "Not Found", "no such unsubscribe link"));
  } else if (p == "/openapi.json") {
    done(Response{200, "application/json", std::string(openapi_document()), {}});
  } else if (p == "/v2/admin/drain" || p == "/v2/admin/resume") {
    if (!d_.set_draining) {
      done(problem(503, "Service Unavailable", "draining is not offered on this node"));
      return;
    }
    d_.set_draining(p == "/v2/admin/drain");
    const auto why = d_.unready ? d_.unready() : std::nullopt;
    done(Response{200,
                  "application/json",
                  json::serialize(json::object{{"draining", p == "/v2/admin/drain"},
                                               {"ready", !why.has_value()},
                                               {"reason", why.value_or("")}}),
                  {}});
  } else if (p.starts_with("/v2/admin/queues")) {
    if (d_.delivery == nullptr) {
      done(problem(503, "Service Unavailable", "this node does not deliver"));
      return;
    }
    queues_api(*d_.delivery, r, p, done);
  } else if (p == "/v2/admin/egress") {
    done(admin_egress(d_.config, d_.shared_egress, r));
  } else if (p.starts_with("/v2/admin/")) {
    done(admin_accounts(d_.config, d_.domain_service, r, p, params));
  } else if (p.starts_with("/v2/domains")) {
    if (d_.domains == nullptr) {
      done(problem(503, "Service Unavailable", "domains are not configured on this node"));
      return;
    }
    auto res = d_.domains->handle(r);
    done(res ? std::move(*res) : problem(404, "Not Found", "no such endpoint: " + r.path));
  } else if (p.starts_with("/v2/webhooks") && d_.webhooks != nullptr) {
    done(d_.webhooks->handle(r, p));
  } else if (p.starts_with("/v2/suppressions") && d_.suppressions != nullptr) {
    done(suppressions_api(*d_.suppressions, r, p, params));
  } else if (p == "/v2/jobs" && d_.jobs != nullptr) {
    if (auto why = d_.refuse_jobs ? d_.refuse_jobs() : std::nullopt) {
      logger()->info("api: job refused, the node takes no traffic: {}", *why);
      Response res = problem(503, "Service Unavailable",
                             "this node takes no new jobs now; try again or another node");
      res.headers.emplace_back("Retry-After", "30");
      done(std::move(res));
      return;
    }
    d_.jobs->submit(std::move(r), std::move(done));
  } else if (p == "/v2/jobs/{jobId}" && d_.status != nullptr) {
    done(d_.status->job(params[0], r.account));
  } else if (p == "/v2/messages" && d_.messages != nullptr) {
    done(d_.messages->search(r.query, r.account));
  } else if (p == "/v2/reports/deliveries.csv" && d_.messages != nullptr) {
    done(d_.messages->deliveries(r.query, r.account, now_ms()));
  } else if (p == "/v2/sandbox/messages" && d_.sandbox != nullptr) {
    done(d_.sandbox->list(r.query, r.account));
  } else if (p == "/v2/sandbox/messages/{mailId}" && d_.sandbox != nullptr) {
    done(d_.sandbox->message(params[0], r.account));
  } else if (p == "/v2/messages/{mailId}" && d_.status != nullptr) {
    done(d_.status->message(params[0], r.account));
  } else {
    done(problem(503, "Service Unavailable", "this endpoint is not available on this node"));
  }
}

}  // namespace txmail::api
