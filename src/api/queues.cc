#include "api/queues.h"

#include <algorithm>
#include <boost/json.hpp>
#include <variant>

#include "api/json_input.h"
#include "api/message_search.h"
#include "api/problem.h"
#include "common/duration.h"
#include "common/idna.h"
#include "queue/delivery_engine.h"
#include "smtp/proto/address.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

// A pause ends at most this far ahead: a longer one is a decision for the configuration.
constexpr std::int64_t kLongestPauseMs = std::int64_t{30} * 24 * 3600 * 1000;

json::value time_or_null(std::int64_t ms) {
  return ms == 0 ? json::value(nullptr) : json::value(iso8601_ms(ms));
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& s : list) {
    out.emplace_back(s);
  }
  return out;
}

json::object to_json(const queue::QueueView& v) {
  json::array destinations;
  for (const auto& d : v.destinations) {
    destinations.push_back(json::object{{"source", d.source},
                                        {"site", d.site},
                                        {"domains", strings(d.domains)},
                                        {"units", d.units},
                                        {"recipients", d.recipients},
                                        {"waitingRecipients", d.waiting_recipients},
                                        {"connections", d.connections},
                                        {"oldestTs", time_or_null(d.oldest_ms)},
                                        {"backedOffUntil", time_or_null(d.backoff_until_ms)},
                                        {"failures", d.failures},
                                        {"lastReply", d.last_reply},
                                        {"paused", d.paused}});
  }
  json::array waiting;
  for (const auto& w : v.waiting) {
    waiting.push_back(json::object{{"domain", w.domain},
                                   {"recipients", w.recipients},
                                   {"held", w.held},
                                   {"nextAttemptTs", time_or_null(w.next_attempt_ms)},
                                   {"oldestTs", time_or_null(w.oldest_ms)},
                                   {"paused", w.paused}});
  }
  json::array pauses;
  for (const auto& p : v.pauses) {
    pauses.push_back(json::object{{p.site ? "site" : "domain", p.name},
                                  {"sinceTs", time_or_null(p.since_ms)},
                                  {"untilTs", time_or_null(p.until_ms)}});
  }
  return json::object{{"takenTs", iso8601_ms(v.taken_ms)},
                      {"jobs", v.jobs},
                      {"oldestTs", time_or_null(v.oldest_ms)},
                      {"readyRecipients", v.ready_recipients},
                      {"waitingRecipients", v.waiting_recipients},
                      {"connections", v.connections},
                      {"destinations", std::move(destinations)},
                      {"destinationsTruncated", v.destinations_truncated},
                      {"waiting", std::move(waiting)},
                      {"waitingTruncated", v.waiting_truncated},
                      {"pauses", std::move(pauses)}};
}

// A destination site as the view names it: MX host names, sorted and comma-separated, or
// "route:HOST:PORT".
bool valid_site(const std::string& site) {
  bool utf8 = false;
  if (site.starts_with("route:")) {
    const std::size_t colon = site.rfind(':');
    const std::string host = site.substr(6, colon - 6);
    const std::string port = site.substr(colon + 1);
    return colon > 6 && !port.empty() && port.size() <= 5
           && std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; })
           && std::ranges::all_of(host, [](char c) { return c > ' ' && c < 0x7f && c != ','; });
  }
  std::size_t start = 0;
  while (start <= site.size()) {
    const std::size_t comma = std::min(site.find(',', start), site.size());
    if (!smtp::valid_domain(std::string_view{site}.substr(start, comma - start), utf8) || utf8) {
      return false;
    }
    start = comma + 1;
  }
  return true;
}

struct Action {
  queue::QueueSelector what;
  std::int64_t until_ms = 0;
};

// {"site": NAME} or {"domain": NAME}, and for a pause "until".
std::variant<Action, Response> read_action(const Request& r, bool pause) {
  auto body = body_object(r, 4096);
  if (auto* refused = std::get_if<Response>(&body)) {
    return std::move(*refused);
  }
  std::vector<FieldError> errors;
  JsonObject o(std::get<json::object>(body), "", errors);
  auto site = o.string("site", false, 4000);
  auto domain = o.string("domain", false, 255);
  std::optional<std::string> until;
  if (pause) {
    until = o.string("until", false, 64);
  }
  o.finish();
  Action a;
  if (site.has_value() == domain.has_value() && errors.empty()) {
    errors.push_back({"site", "name either a site or a domain"});
  }
  if (site && !site->starts_with("route:")) {  // MX host names are lower case in the view
    std::ranges::transform(*site, site->begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  if (site && !valid_site(*site)) {
    errors.push_back({"site",
                      "not a destination site: its MX host names, sorted and comma-separated, "
                      "or route:HOST:PORT, as GET /v2/admin/queues names it"});
  } else if (site) {
    a.what = queue::QueueSelector{true, *site};
  }
  if (domain) {
    auto ascii = idna::to_ascii(*domain);
    bool utf8 = false;
    if (!ascii || ascii->empty() || ascii->front() == '[' || !smtp::valid_domain(*ascii, utf8)) {
      errors.push_back({"domain", "not a domain name"});
    } else {
      a.what = queue::QueueSelector{false, std::move(*ascii)};
    }
  }
  if (until) {
    const auto ms = parse_time(*until);
    const std::int64_t now = now_ms();
    if (!ms) {
      errors.push_back(
          {"until", "not a time: RFC 3339 (2026-12-01T10:00:00Z) or unix milliseconds"});
    } else if (*ms <= now || *ms > now + kLongestPauseMs) {
      errors.push_back({"until", "must be in the next 30 days"});
    } else {
      a.until_ms = *ms;
    }
  }
  if (!errors.empty()) {
    return invalid(errors);
  }
  return a;
}

Response action_answer(const Action& a, const queue::QueueActionResult& r, const char* verb) {
  if (!r.found) {
    return problem(404, "Not Found",
                   std::string("nothing to ") + verb + " under the "
                       + (a.what.site ? "site " : "domain ") + a.what.name + " on this node");
  }
  return Response{200,
                  "application/json",
                  json::serialize(json::object{{a.what.site ? "site" : "domain", a.what.name},
                                               {"untilTs", time_or_null(a.until_ms)},
                                               {"held", r.held},
                                               {"broughtForward", r.brought_forward},
                                               {"backOffsCleared", r.backoffs_cleared}}),
                  {}};
}

}  // namespace

void queues_api(queue::DeliveryEngine& engine, const Request& r, const std::string& pattern,
                const HttpServer::Done& done) {
  if (pattern == "/v2/admin/queues") {
    engine.view([done](const std::shared_ptr<const queue::QueueView>& v) {
      done(Response{200, "application/json", json::serialize(to_json(*v)), {}});
    });
    return;
  }
  const bool pause = pattern == "/v2/admin/queues/pause";
  auto read = read_action(r, pause);
  if (auto* refused = std::get_if<Response>(&read)) {
    done(std::move(*refused));
    return;
  }
  const Action a = std::get<Action>(std::move(read));
  if (pause) {
    engine.pause(a.what, a.until_ms,
                 [done, a](queue::QueueActionResult res) { done(action_answer(a, res, "pause")); });
  } else if (pattern == "/v2/admin/queues/resume") {
    engine.resume(
        a.what, [done, a](queue::QueueActionResult res) { done(action_answer(a, res, "resume")); });
  } else {
    engine.retry_now(
        a.what, [done, a](queue::QueueActionResult res) { done(action_answer(a, res, "retry")); });
  }
}

}  // namespace txmail::api
