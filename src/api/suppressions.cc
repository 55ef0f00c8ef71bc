// /v2/suppressions: the suppression list (issue core-5, item 5).
//
//   GET    /v2/suppressions?after=<email>&limit=<n>   live entries in address order (paging)
//   POST   /v2/suppressions        {"email", "type"?, "reason"?, "ttlDays"?} → 201
//   GET    /v2/suppressions/{email}                   404 when not suppressed
//   DELETE /v2/suppressions/{email}                   the address is deliverable again
//
// An account sees and changes its own list. With [suppression] scope = "global" there is one
// list: accounts may read it, only the operator changes it.
#include <boost/json.hpp>

#include "api/json_input.h"
#include "api/request_target.h"
#include "api/service.h"
#include "common/duration.h"
#include "common/idna.h"
#include "smtp/proto/address.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

json::object entry_json(const tenancy::Suppression& s) {
  return json::object{{"email", s.address},
                      {"type", tenancy::suppression_type_name(s.type)},
                      {"reason", s.reason},
                      {"source", s.source},
                      {"createdTs", iso8601_ms(s.created_ms)},
                      {"expiresTs", iso8601_ms(s.expires_ms)}};
}

Response ok(int status, const json::value& v) {
  return Response{status, "application/json", json::serialize(v), {}};
}

}  // namespace

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
Response suppressions_api(tenancy::SuppressionList& list, const Request& r,
                          const std::string& pattern, const std::vector<std::string>& params) {
  const bool global = list.settings().global;
  if (r.account.empty() && !global) {
    return problem(
        400, "Bad Request",
        "the suppression list is kept per account: name the account in X-Txmail-Account");
  }
  const std::string scope = list.scope_of(r.account);
  const bool may_change = !global || r.account.empty();
  const std::int64_t now = now_ms();
  if (pattern == "/v2/suppressions" && r.method == "GET") {
    const std::string limit_text = query_param(r.query, "limit");
    std::size_t limit = 100;
    if (!limit_text.empty()) {
      char* end = nullptr;
      const unsigned long v = std::strtoul(limit_text.c_str(), &end, 10);
      if (*end != '\0' || v == 0 || v > 1000) {
        return invalid({FieldError{"limit", "must be 1 to 1000"}});
      }
      limit = v;
    }
    const auto page = list.list(scope, query_param(r.query, "after"), limit, now);
    json::array out;
    for (const auto& s : page) {
      out.push_back(entry_json(s));
    }
    json::object body{{"suppressions", std::move(out)}};
    if (page.size() == limit) {
      body["next"] = "/v2/suppressions?after=" + percent_encode(page.back().address)
                     + "&limit=" + std::to_string(limit);
    }
    return ok(200, body);
  }
  if (!may_change && r.method != "GET") {
    return problem(403, "Forbidden", "the suppression list is global: the operator changes it");
  }
  if (pattern == "/v2/suppressions") {  // POST
    auto body = body_object(r);
    if (auto* p = std::get_if<Response>(&body)) {
      return std::move(*p);
    }
    std::vector<FieldError> errors;
    JsonObject o(std::get<json::object>(body), "", errors);
    const auto email = o.string("email", true, 256);
    const auto type = o.string("type", false, 32).value_or("PREVIOUSLY_BOUNCED");
    const auto reason = o.string("reason", false, 300).value_or("added through the API");
    const auto days = o.integer("ttlDays", 1, 45);
    o.finish();
    if (email && !smtp::parse_mailbox(*email)) {
      o.error("email", "not a valid email address");
    } else if (email && !idna::canonical_address(*email)) {
      o.error("email", "the domain is not a valid internationalized domain name");
    }
    if (type != "PREVIOUSLY_BOUNCED" && type != "TEMPORARY_SUPPRESSED") {
      o.error("type", "must be PREVIOUSLY_BOUNCED or TEMPORARY_SUPPRESSED");
    }
    if (!errors.empty()) {
      return invalid(errors);
    }
    tenancy::Suppression s;
    s.address = *email;
    s.scope = scope;
    s.type = type == "TEMPORARY_SUPPRESSED" ? tenancy::SuppressionType::kTemporary
                                            : tenancy::SuppressionType::kPreviouslyBounced;
    s.reason = reason;
    s.source = "api";
    s.created_ms = now;
    s.ttl_ms = days ? *days * 24 * 3600 * 1000
               : s.type == tenancy::SuppressionType::kTemporary
                   ? list.settings().full_mailbox.count()
                   : list.settings().no_such_user.count();
    auto added = list.add(s);
    if (!added) {
      return from_error(added.error());
    }
    Response res = ok(201, entry_json(*added));
    res.headers.emplace_back("Location", "/v2/suppressions/" + percent_encode(added->address));
    return res;
  }
  const std::string& email = params.at(0);
  if (r.method == "DELETE") {
    auto removed = list.remove(scope, email);
    return removed ? Response{204, "application/json", "", {}} : from_error(removed.error());
  }
  auto s = list.find(r.account, email, now);
  if (!s) {
    return problem(404, "Not Found", tenancy::lower_address(email) + " is not suppressed");
  }
  return ok(200, entry_json(*s));
}

}  // namespace txmail::api
