// The /v2/domains endpoints (issue core-3, item 6), written for the HTTP server of issue
// core-4 to mount: a request in (method, path, body, the authenticated account), a response out
// (status, JSON or application/problem+json). No I/O of their own but the config store through
// DomainService and the DNS lookups of `verify`, which the server runs off its I/O threads.
//
//   GET    /v2/domains                    the caller's domains (the operator: every domain)
//   POST   /v2/domains                    {"domain": "...", "account": "..." (operator only)}
//   GET    /v2/domains/{domain}           the domain, its keys and the records to publish
//   DELETE /v2/domains/{domain}
//   POST   /v2/domains/{domain}/verify    look the records up; activates keys found in place
//   POST   /v2/domains/{domain}/rotate    new pending keys
//   POST   /v2/domains/{domain}/keys      {"pem": "..."}: import a private key
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/http.h"
#include "api/problem.h"
#include "tenancy/domain_service.h"

namespace txmail::api {

// A domain as the API and the CLI show it: never a private key, sealed or not.
boost::json::object domain_json(const tenancy::SenderDomain& d);

// TXT answers for each name (empty for none); an error when DNS could not say.
using TxtResolver =
    std::function<Result<tenancy::TxtAnswers>(const std::vector<std::string>& names)>;

class DomainsApi {
 public:
  DomainsApi(tenancy::DomainService& domains, TxtResolver resolver)
      : domains_(domains), resolver_(std::move(resolver)) {}

  // nullopt when the path is not under /v2/domains.
  std::optional<Response> handle(const Request& request);

 private:
  Response verify(const std::string& name, const std::string& account);

  tenancy::DomainService& domains_;
  TxtResolver resolver_;
};

}  // namespace txmail::api
