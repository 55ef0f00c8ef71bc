#include "api/console.h"

#include <openssl/crypto.h>

#include <boost/json.hpp>

#include "api/problem.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

void harden(Response& res) {
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
}

Response json_response(int status, const json::object& body) {
  Response res{status, "application/json", json::serialize(body), {}};
  res.headers.emplace_back("Cache-Control", "no-store");
  harden(res);
  return res;
}

json::object describe(const ConsoleSession& s) {
  return json::object{{"account", s.account}, {"admin", s.account.empty()}, {"csrf", s.csrf}};
}

std::string cookie(const std::string& value, bool secure, bool clear) {
  std::string out =
      std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict; Max-Age="
      + (clear ? std::string("0")
               : std::to_string(std::chrono::seconds(ConsoleSessions::kMaxAge).count()));
  if (secure) {
    out += "; Secure";
  }
  return out;
}

Response not_logged_in(const std::string& detail) {
  Response res = problem(401, "Unauthorized", detail);
  res.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="txmail")");
  return res;
}

bool same(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void challenge_bearer_only(Response& res) {
  for (auto& [name, value] : res.headers) {
    if (name == "WWW-Authenticate") {
      value = R"(Bearer realm="txmail")";
    }
  }
}

Response Console::handle(const Request& r) {
  if (r.path == "/console/login") {
    return r.method == "POST" ? login(r) : problem(405, "Method Not Allowed", "log in with POST");
  }
  if (r.path == "/console/session") {
    return r.method == "GET" ? session(r) : problem(405, "Method Not Allowed", "GET the session");
  }
  if (r.path == "/console/logout") {
    return r.method == "POST" ? logout(r) : problem(405, "Method Not Allowed", "log out with POST");
  }
  if (r.method != "GET") {
    return problem(405, "Method Not Allowed", "the console's pages are read with GET");
  }
  return page(r);
}

Response Console::page(const Request& r) {
  if (r.path == "/console") {
    return Response{308, "text/plain; charset=utf-8", "", {{"Location", "/console/"}}};
  }
  constexpr std::string_view kPrefix = "/console/";
  std::string_view name = r.path;
  name.remove_prefix(kPrefix.size());
  if (name.empty()) {
    name = "index.html";
  }
  auto asset = console_asset(name);
  if (!asset) {
    return problem(404, "Not Found", "no such page: " + r.path);
  }
  Response res{200, std::string(asset->content_type), std::string(asset->body), {}};
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  harden(res);
  return res;
}

Response Console::login(const Request& r) {
  // JSON only: a form on another site cannot send it without the browser asking first (CORS).
  if (!r.header("content-type").starts_with("application/json")) {
    return problem(415, "Unsupported Media Type", "log in with a JSON body {\"token\": …}");
  }
  if (r.body.size() > kMaxLoginBody) {
    return problem(413, "Content Too Large", "the login body is too large");
  }
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  const auto* o = ec ? nullptr : v.if_object();
  const auto* token = o != nullptr ? o->if_contains("token") : nullptr;
  if (token == nullptr || !token->is_string() || token->as_string().empty()) {
    return invalid({{"token", "an account's API key or the admin token"}});
  }
  // Checked as a request with that Authorization would be (failures count alike).
  Request proof;
  proof.method = "GET";
  proof.path = r.path;
  proof.remote_ip = r.remote_ip;
  proof.tls = r.tls;
  const std::string authorization = "Bearer " + std::string(token->as_string());
  proof.headers.emplace_back("authorization", authorization);
  auto who = authenticate_(proof);
  if (auto* refused = std::get_if<Response>(&who)) {
    challenge_bearer_only(*refused);
    return std::move(*refused);
  }
  if (auto old = cookie_value(r.header("cookie"), kSessionCookie)) {
    sessions_.erase(*old);  // a login again ends the session the browser had
  }
  auto [id, made] = sessions_.create(authorization, std::get<std::string>(who));
  Response res = json_response(200, describe(made));
  res.headers.emplace_back("Set-Cookie", cookie(id, r.tls, false));
  return res;
}

Response Console::session(const Request& r) {
  const auto id = cookie_value(r.header("cookie"), kSessionCookie);
  auto s = id ? sessions_.find(*id) : std::nullopt;
  if (!s) {
    return not_logged_in("not logged in");
  }
  // Still what it was: a key revoked or an account disabled since ends the session.
  Request proof;
  proof.method = "GET";
  proof.path = r.path;
  proof.remote_ip = r.remote_ip;
  proof.headers.emplace_back("authorization", s->authorization);
  auto who = authenticate_(proof);
  if (std::holds_alternative<Response>(who)) {
    sessions_.erase(*id);
    return not_logged_in("the session's credentials no longer hold; log in again");
  }
  return json_response(200, describe(*s));
}

Response Console::logout(const Request& r) {
  const auto id = cookie_value(r.header("cookie"), kSessionCookie);
  auto s = id ? sessions_.find(*id) : std::nullopt;
  if (!s) {
    return not_logged_in("not logged in");
  }
  if (!same(r.header("x-csrf-token"), s->csrf)) {
    return problem(403, "Forbidden", "a change needs the session's CSRF token in X-CSRF-Token");
  }
  sessions_.erase(*id);
  Response res = json_response(200, json::object{{"status", "logged out"}});
  res.headers.emplace_back("Set-Cookie", cookie("", r.tls, true));
  return res;
}

}  // namespace txmail::api
