// The REST API: routes, authentication and the per-account rate limit (issue core-4). One
// handler per endpoint group lives in its own file (admin.cc, domains.cc, jobs.cc, status.cc);
// this class authenticates a request, finds its route and calls the handler. It runs on the
// worker pool (HttpServer posts every request there): handlers may read the stores and hash.
//
// Credentials: HTTP Basic (account name and password), `Authorization: Bearer <api key>`, or
// `Bearer <admin token>` for the operator. The operator may act for an account by naming it in
// `X-Txmail-Account` (how `txmail send` and the other administration commands work).
// A browser logged in to the web console sends its session cookie instead, and the session's
// CSRF token with every change (api/console_sessions.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "api/console.h"
#include "api/console_sessions.h"
#include "api/http.h"
#include "api/http_server.h"
#include "net/auth_failure_limiter.h"
#include "store/config_store.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/domain_service.h"
#include "tenancy/rate_limiter.h"
#include "tenancy/suppression.h"

namespace txmail::queue {
class DeliveryEngine;
}

namespace txmail::api {

class DomainsApi;
class JobsApi;
class MessageSearchApi;
class SandboxApi;
class StatusApi;
class Unsubscribes;
class WebhooksApi;

enum class Access {
  kPublic,   // no credentials
  kAdmin,    // the admin token
  kAccount,  // an account's credentials (or the admin token with X-Txmail-Account)
  kEither,   // an account, or the operator acting on every account
};

struct Route {
  std::string method;
  std::string pattern;  // "/v2/jobs/{jobId}"
  Access access;
  bool counted;  // counts against the account's hourly limit
};

// Every route, as /openapi.json must document them.
const std::vector<Route>& routes();

struct ServiceDeps {
  store::ConfigStore& config;
  tenancy::AccountDirectory& accounts;
  tenancy::Authenticator& authenticator;
  tenancy::RequestLimiter& limiter;
  std::int64_t default_hourly_limit = 5000;
  std::string admin_token;
  DomainsApi* domains = nullptr;
  tenancy::DomainService* domain_service = nullptr;
  tenancy::SuppressionList* suppressions = nullptr;
  JobsApi* jobs = nullptr;
  StatusApi* status = nullptr;
  MessageSearchApi* messages = nullptr;  // GET /v2/messages, /v2/reports/deliveries.csv
  WebhooksApi* webhooks = nullptr;
  SandboxApi* sandbox = nullptr;              // GET /v2/sandbox/messages[/{mailId}]
  Unsubscribes* unsubscribes = nullptr;       // GET|POST /u/{token}; null: 404
  queue::DeliveryEngine* delivery = nullptr;  // /v2/admin/queues[/...] (api/queues.h)
  // Failed authentications per client address, shared with SMTP AUTH (null: none).
  net::AuthFailureLimiter* auth_failures = nullptr;
  std::chrono::seconds auth_block{300};  // Retry-After when an address is blocked
  // Why this node takes no traffic now (/readyz answers 503 with it; new jobs are refused), or
  // nullopt. Null: always ready.
  std::function<std::optional<std::string>()> unready;
  // Why new jobs go to another node now (draining, the region lost), or nullopt. A full disk
  // is the spool's to refuse, job by job. Null: never.
  std::function<std::optional<std::string>()> refuse_jobs;
  // `txmail drain`: stop (true) or resume (false) intake on this node. Null: not offered.
  std::function<void(bool)> set_draining;
  // Egress sources, pools and routes live in the shared config store (cluster mode).
  bool shared_egress = false;
  std::function<std::string()> metrics;  // /metrics (Prometheus text)
};

class ApiService {
 public:
  explicit ApiService(ServiceDeps deps)
      : d_(std::move(deps)),
        console_(sessions_, [this](const Request& r) { return authenticate(r, Access::kEither); }) {
  }

  // The console holds `this`: an ApiService stays where it was made.
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;
  ApiService(ApiService&&) = delete;
  ApiService& operator=(ApiService&&) = delete;
  ~ApiService() = default;

  // HttpServer's handler: answers through `done`, possibly later and from another thread.
  void handle(Request request, HttpServer::Done done);
  // Before a body is invited (Expect: 100-continue): the answer to bad credentials, or nullopt.
  // A worker thread (it may hash a password).
  std::optional<Response> check_credentials(const Request& request);

 private:
  // The account the credentials name, "" for the operator, or a problem.
  std::variant<std::string, Response> authenticate(const Request& r, Access access);
  std::variant<std::string, Response> authenticate_request(const Request& r, Access access);

  ServiceDeps d_;
  ConsoleSessions sessions_;
  Console console_;
};

// The revision an If-Match header names ("42" or 42): nullopt without the header, a 400
// problem naming `what` when it is not an ETag (admin_egress.cc).
std::variant<std::optional<std::uint64_t>, Response> if_match_revision(const Request& r,
                                                                       const std::string& what);

// /v2/admin/egress (admin_egress.cc): `shared` in cluster mode.
Response admin_egress(store::ConfigStore& config, bool shared, const Request& r);

// The admin endpoints (admin.cc). Deleting an account removes its keys and sender domains.
Response admin_accounts(store::ConfigStore& config, tenancy::DomainService* domains,
                        const Request& r, const std::string& pattern,
                        const std::vector<std::string>& params);

// The suppression list endpoints (suppressions.cc).
Response suppressions_api(tenancy::SuppressionList& list, const Request& r,
                          const std::string& pattern, const std::vector<std::string>& params);

}  // namespace txmail::api
