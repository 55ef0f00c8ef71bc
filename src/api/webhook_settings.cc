#include "api/webhook_settings.h"

#include <boost/json.hpp>

#include "api/json_input.h"
#include "common/duration.h"
#include "common/log.h"
#include "mime/compose.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

std::string key_of(const std::string& account) {
  return "webhook/" + account;
}

Response ok(int status, const json::value& v) {
  return Response{status, "application/json", json::serialize(v), {}};
}

json::object shown(const events::Endpoint& e) {
  json::object headers;
  for (const auto& [k, v] : e.headers) {
    headers[k] = v;
  }
  json::object o{{"url", e.url}, {"headers", std::move(headers)}};
  if (!e.user.empty()) {
    o["authentication"] = json::object{{"method", "BASIC"}, {"user", e.user}};
  }
  return o;
}

}  // namespace

std::optional<events::Endpoint> WebhooksApi::account_endpoint(const std::string& account) {
  auto e = d_.config.get(key_of(account));
  if (!e || !e->has_value()) {
    return std::nullopt;
  }
  auto plain = d_.open((*e)->value, "webhook-endpoint:" + account);
  if (!plain) {
    logger()->error("webhooks: the endpoint of {} cannot be unsealed: {}", account,
                    plain.error().detail);
    return std::nullopt;
  }
  return events::endpoint_from_json(*plain);
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
Response WebhooksApi::handle(const Request& r, const std::string& pattern) {
  if (pattern == "/v2/webhooks/dead-letters" || pattern == "/v2/webhooks/dead-letters/replay") {
    if (d_.dispatcher == nullptr) {
      return problem(503, "Service Unavailable", "push notifications are not running on this node");
    }
    if (r.method == "POST") {
      auto n = d_.dispatcher->replay(r.account);
      if (!n) {
        // The detail (file, statement) is for the log; nothing was moved.
        logger()->error("webhooks: replay for {}: {}",
                        r.account.empty() ? "every account" : r.account, n.error().detail);
        return from_error(
            Error{n.error().code,
                  "the dead letters cannot be replayed now; every one not replayed is kept"});
      }
      return ok(200, json::object{{"replayed", *n}});
    }
    const std::string limit_text = query_param(r.query, "limit");
    const std::size_t limit =
        limit_text.empty()
            ? 100
            : std::clamp<std::size_t>(std::strtoul(limit_text.c_str(), nullptr, 10), 1, 1000);
    auto list = d_.dispatcher->dead_letters(r.account, limit);
    if (!list) {
      logger()->error("webhooks: dead letters of {}: {}",
                      r.account.empty() ? "every account" : r.account, list.error().detail);
      return from_error(Error{list.error().code, "the dead letters cannot be read now"});
    }
    json::array out;
    for (const auto& d : *list) {
      out.push_back(json::object{{"id", d.id},
                                 {"account", d.account},
                                 {"jobId", d.job_id},
                                 {"url", d.url},
                                 {"attempts", d.attempts},
                                 {"lastError", d.last_error},
                                 {"createdTs", iso8601_ms(d.created_ms)},
                                 {"notifications", d.notifications}});
    }
    return ok(200, json::object{{"deadLetters", std::move(out)}});
  }
  if (r.account.empty()) {
    return problem(400, "Bad Request",
                   "this is an account's setting: name the account in X-Txmail-Account");
  }
  if (pattern == "/v2/webhooks/secret") {
    return ok(200, json::object{{"secret", d_.secret_of(r.account)},
                                {"header", "X-Txmail-Signature"},
                                {"scheme", "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">"}});
  }
  if (r.method == "GET") {
    auto e = account_endpoint(r.account);
    if (!e) {
      return problem(404, "Not Found", "no default endpoint is set");
    }
    auto o = shown(*e);
    if (d_.dispatcher != nullptr) {
      const auto st = d_.dispatcher->endpoint_status(e->url);
      json::object status{{"state", st.state},
                          {"consecutiveFailures", st.consecutive_failures},
                          {"backlog", st.backlog}};
      if (st.paused_until_ms > 0) {
        status["pausedUntil"] = iso8601_ms(st.paused_until_ms);
      }
      if (!st.last_error.empty()) {
        status["lastError"] = st.last_error;
      }
      o["status"] = std::move(status);
    }
    return ok(200, o);
  }
  if (r.method == "DELETE") {
    auto erased = d_.config.erase(key_of(r.account), store::Expect::any());
    return erased ? Response{204, "application/json", "", {}} : from_error(erased.error());
  }
  // PUT
  auto body = body_object(r);
  if (auto* p = std::get_if<Response>(&body)) {
    return std::move(*p);
  }
  std::vector<FieldError> errors;
  JsonObject o(std::get<json::object>(body), "", errors);
  events::Endpoint e;
  e.url = o.string("url", true, 1000).value_or("");
  if (!e.url.empty()
      && (!(e.url.starts_with("https://") || e.url.starts_with("http://"))
          || !mime::header_safe(e.url))) {
    o.error("url", "must be an http or https URL");
  }
  if (auto headers = o.object("headers")) {
    std::size_t total = 0;
    for (const auto& kv : headers->raw()) {
      const std::string name(kv.key());
      auto value = headers->string(name, false, 1000);
      if (!mime::valid_field_name(name) || (value && !mime::header_safe(*value))) {
        headers->error(name, "is not a valid header");
      } else if (value) {
        e.headers.emplace_back(name, *value);
        total += name.size() + value->size();
      }
    }
    if (total > 1000) {
      o.error("headers", "names and values together are over 1000 characters");
    }
  }
  if (auto auth = o.object("authentication")) {
    auto method = auth->string("method", true, 16);
    if (method && *method != "BASIC") {
      auth->error("method", "must be BASIC");
    }
    e.user = auth->string("user", true, 256).value_or("");
    e.password = auth->string("password", false, 256).value_or("");
    auth->finish();
  }
  o.finish();
  if (!errors.empty()) {
    return invalid(errors);
  }
  auto put =
      d_.config.put(key_of(r.account), d_.seal(events::to_json(e), "webhook-endpoint:" + r.account),
                    store::Expect::any());
  return put ? ok(200, shown(e)) : from_error(put.error());
}

}  // namespace txmail::api
