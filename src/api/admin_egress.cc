// /v2/admin/egress: the region's shared egress sources, pools and routes (cluster mode; issue
// site-1 item 5), for the operator (admin token).
//
//   GET /v2/admin/egress   → 200 {"sources": [{name, address, ehlo, site}], "pools": {name:
//   [source]},
//                                 "routes": [{domain, relay}]}, with its ETag
//   PUT /v2/admin/egress   the same document; If-Match: only that revision (409 otherwise)
//
// Every node applies a change at once to what it routes next, from its own site's sources.
// Embedded mode reads these from the config file: 404 there.
#include <charconv>

#include "api/problem.h"
#include "api/service.h"
#include "queue/egress_settings.h"

namespace txmail::api {

namespace {

Response with_etag(Response r, std::uint64_t revision) {
  r.headers.emplace_back("ETag", "\"" + std::to_string(revision) + "\"");
  return r;
}

// Every site that has a source must be able to send through every pool.
Result<void> check_every_site(const queue::EgressSettings& s) {
  for (const auto& src : s.sources) {
    if (src.site.empty()) {
      continue;
    }
    if (auto own = queue::for_site(s, src.site); !own) {
      return tl::unexpected(own.error());
    }
  }
  return {};
}

}  // namespace

std::variant<std::optional<std::uint64_t>, Response> if_match_revision(const Request& r,
                                                                       const std::string& what) {
  const std::string m = r.header("if-match");
  if (m.empty()) {
    return std::optional<std::uint64_t>{};
  }
  const std::string digits =
      m.size() > 2 && m.front() == '"' && m.back() == '"' ? m.substr(1, m.size() - 2) : m;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size() || v == 0) {
    return problem(400, "Bad Request",
                   "If-Match must be the ETag of the " + what + ", like \"42\"");
  }
  return std::optional<std::uint64_t>(v);
}

Response admin_egress(store::ConfigStore& config, bool shared, const Request& r) {
  if (!shared) {
    return problem(404, "Not Found",
                   "this node reads its egress sources, pools and routes from its config file "
                   "(embedded mode)");
  }
  if (r.method == "GET") {
    auto e = config.get(queue::kEgressKey);
    if (!e) {
      return from_error(e.error());
    }
    if (!e->has_value()) {
      return problem(404, "Not Found", "no shared egress settings yet (the first node seeds them)");
    }
    return with_etag(Response{200, "application/json", (*e)->value, {}}, (*e)->revision);
  }
  auto settings = queue::egress_from_json(r.body);
  if (!settings) {
    return problem(400, "Bad Request", settings.error().detail);
  }
  if (auto ok = check_every_site(*settings); !ok) {
    return problem(400, "Bad Request", ok.error().detail);
  }
  auto expected = if_match_revision(r, "settings");
  if (auto* p = std::get_if<Response>(&expected)) {
    return std::move(*p);
  }
  const auto revision = std::get<std::optional<std::uint64_t>>(expected);
  const store::Expect expect = revision ? store::Expect::at(*revision) : store::Expect::any();
  const std::string body = queue::to_json(*settings);
  auto put = config.put(queue::kEgressKey, body, expect);
  if (!put) {
    if (put.error().code == ErrorCode::kConflict) {
      return problem(409, "Conflict",
                     "the egress settings changed since that revision; read them again");
    }
    return from_error(put.error());
  }
  return with_etag(Response{200, "application/json", body, {}}, *put);
}

}  // namespace txmail::api
