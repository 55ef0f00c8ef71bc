#include "api/unsubscribe.h"

#include <algorithm>

#include "api/problem.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::api {

namespace {

constexpr std::string_view kOneClick = "List-Unsubscribe=One-Click";

// Small pages, no scripts, nothing fetched from elsewhere, nothing about the recipient (whoever
// holds the link sees them).
std::string page(std::string_view title, std::string_view body) {
  std::string out =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" "
      "content=\"noindex\"><title>";
  out.append(title).append("</title></head>\n<body>\n<h1>").append(title).append("</h1>\n");
  out.append(body).append("\n</body></html>\n");
  return out;
}

Response html(int status, std::string body) {
  Response res{status, "text/html; charset=utf-8", std::move(body), {}};
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("X-Robots-Tag", "noindex");
  return res;
}

Response confirmation(const std::string& token) {
  // The form posts to the same URL (relative to /u/) with the body RFC 8058 prescribes.
  return html(200, page("Unsubscribe",
                        "<p>Stop receiving these messages?</p>\n<form method=\"post\" action=\""
                            + token + "\">\n<input type=\"hidden\" name=\"List-Unsubscribe\" "
                            + "value=\"One-Click\">\n<button type=\"submit\">Unsubscribe</button>"
                            + "\n</form>"));
}

Response unsubscribed() {
  return html(200, page("Unsubscribed", "<p>You will not receive these messages any more.</p>"));
}

bool has_unsubscribed(const std::vector<events::Event>& known) {
  return std::any_of(known.begin(), known.end(),
                     [](const events::Event& e) { return e.kind == events::Kind::kUnsubscribed; });
}

}  // namespace

std::optional<UnsubscribeLinks> Unsubscribes::links(const std::string& mail_id) const {
  auto local = tokens_.local_part(mail_id);
  if (!local) {
    return std::nullopt;
  }
  return UnsubscribeLinks{base_url_ + "/u/" + local->substr(2),
                          "mailto:" + *local + "@" + domain_ + "?subject=unsubscribe"};
}

Unsubscribes::Outcome Unsubscribes::record(const std::string& mail_id, const std::string& how) {
  const std::lock_guard lock(mutex_);
  auto known = log_.for_mail(mail_id);
  if (!known) {
    logger()->error("unsubscribe: mail {}: the event log failed: {}", mail_id,
                    known.error().detail);
    return Outcome::kFailed;
  }
  if (known->empty()) {
    logger()->warn("unsubscribe: mail {}, which the event log does not know", mail_id);
    return Outcome::kUnknown;
  }
  const events::Event& last = known->back();
  const std::int64_t now = now_ms();
  const auto entry = suppressions_.find(last.account, last.recipient, now);
  if (has_unsubscribed(*known)
      || (entry && entry->type == tenancy::SuppressionType::kUnsubscribed)) {
    logger()->info("unsubscribe: mail {} again ({}; recorded once)", mail_id, how);
    return Outcome::kAlready;
  }
  events::Event e = events::follow_up(events::Kind::kUnsubscribed, last);
  e.reply = how;
  // The suppression first: the event is what the customer is told, once it holds.
  if (!suppressions_.add_unsubscribe(e.account, e.recipient, how, now)) {
    return Outcome::kFailed;
  }
  log_.append(e);
  logger()->info("unsubscribe: mail {} account={} ({})", e.mail_id, e.account, how);
  return Outcome::kRecorded;
}

Response Unsubscribes::handle(const Request& r, const std::string& token) {
  const auto mail = tokens_.mail_id("u-" + token);
  if (r.method == "GET") {
    if (!mail) {
      return html(404, page("Not found", "<p>This link is not valid.</p>"));
    }
    return confirmation(token);
  }
  if (!mail) {
    return problem(404, "Not Found", "no such unsubscribe link");
  }
  if (r.body.size() > kMaxBody) {
    return problem(413, "/problems/body-too-large", "Content Too Large",
                   "the body of an unsubscribe is " + std::string(kOneClick), {});
  }
  if (r.body.find(kOneClick) == std::string::npos) {
    return problem(400, "Bad Request",
                   "the body must be " + std::string(kOneClick) + " (RFC 8058), form-encoded");
  }
  switch (record(*mail, "one-click (https POST from " + r.remote_ip + ")")) {
    case Outcome::kRecorded:
    case Outcome::kAlready:
      return unsubscribed();
    case Outcome::kUnknown:
      return problem(404, "Not Found", "no such unsubscribe link");
    case Outcome::kFailed:
      break;
  }
  Response res = problem(503, "Service Unavailable", "try again later");
  res.headers.emplace_back("Retry-After", "60");
  return res;
}

void Unsubscribes::respond(const Request& r, const std::string& token,
                           std::function<void(Response)> done) {
  Response res = handle(r, token);
  if (r.method != "POST") {
    done(std::move(res));
    return;
  }
  log_.after_stored(
      [done = std::move(done), res = std::move(res)]() mutable { done(std::move(res)); });
}

}  // namespace txmail::api
