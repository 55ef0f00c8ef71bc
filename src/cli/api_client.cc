#include "cli/api_client.h"

#include <fmt/format.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include "net/asio.h"
#include "net/http_url.h"
#include "net/tls_context.h"

namespace txmail::cli {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// The API's URL: where it is and the path it lives under (without the trailing slash).
struct Url {
  net::HttpUrl http;
  std::string prefix;
};

Result<Url> parse_url(const std::string& s) {
  auto http = net::parse_http_url(s);
  if (!http) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--api: '" + s + "' is not an http:// or https:// URL");
  }
  std::string prefix = http->target.substr(0, http->target.find('?'));
  while (!prefix.empty() && prefix.back() == '/') {
    prefix.pop_back();
  }
  return Url{std::move(*http), std::move(prefix)};
}

template <typename Stream>
Result<ApiReply> exchange(Stream& stream, http::request<http::string_body>& req) {
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) {
    return make_error(ErrorCode::kNetwork, "sending the request: " + ec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{256} * 1024 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) {
    return make_error(ErrorCode::kNetwork, "reading the answer: " + ec.message());
  }
  auto res = parser.release();
  return ApiReply{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
                  std::move(res.body())};
}

}  // namespace

Result<ApiReply> call(const ApiTarget& target, const std::string& method, const std::string& path,
                      const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  auto url = parse_url(target.url);
  if (!url) {
    return tl::unexpected(url.error());
  }
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(url->http.host, url->http.port, ec);
  if (ec) {
    return make_error(ErrorCode::kNetwork,
                      "cannot resolve " + url->http.host + ": " + ec.message());
  }
  http::request<http::string_body> req{http::string_to_verb(method), url->prefix + path, 11};
  req.set(http::field::host, url->http.host);
  req.set(http::field::user_agent, "txmail-cli");
  if (!target.token.empty()) {
    req.set(http::field::authorization, "Bearer " + target.token);
    if (!target.account.empty()) {
      req.set("X-Txmail-Account", target.account);
    }
  } else if (!target.api_key.empty()) {
    req.set(http::field::authorization, "Bearer " + target.api_key);
  }
  for (const auto& [k, v] : headers) {
    req.set(k, v);
  }
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  const std::string where = " (" + target.url + ")";
  if (!url->http.tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(120));
    stream.connect(endpoints, ec);
    if (ec) {
      return make_error(ErrorCode::kNetwork,
                        "cannot connect to the API" + where + ": " + ec.message());
    }
    return exchange(stream, req);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  net::set_server_name(stream.native_handle(), url->http.host);
  stream.set_verify_callback(asio::ssl::host_name_verification(url->http.host));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(120));
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (!ec) {
    stream.handshake(asio::ssl::stream_base::client, ec);
  }
  if (ec) {
    return make_error(ErrorCode::kNetwork,
                      "cannot connect to the API" + where + ": " + ec.message());
  }
  return exchange(stream, req);
}

std::optional<ApiReply> call_or_report(const ApiTarget& target, const std::string& method,
                                       const std::string& path, const std::string& body) {
  auto reply = call(target, method, path, body);
  if (!reply) {
    fmt::print(stderr, "txmail: {}\n", reply.error().detail);
    return std::nullopt;
  }
  if (reply->status >= 300) {
    fmt::print(stderr, "txmail: {}\n", describe_failure(*reply));
    return std::nullopt;
  }
  return std::move(*reply);
}

std::string describe_failure(const ApiReply& reply) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(reply.body, ec);
  if (ec || !v.is_object()) {
    return std::to_string(reply.status) + " " + reply.body.substr(0, 200);
  }
  const auto& o = v.as_object();
  auto str = [&o](const char* k) {
    const auto* p = o.if_contains(k);
    return p != nullptr && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  std::string out = std::to_string(reply.status) + " " + str("title");
  if (const std::string d = str("detail"); !d.empty()) {
    out += ": " + d;
  }
  if (const auto* errors = o.if_contains("errors"); errors != nullptr && errors->is_array()) {
    for (const auto& e : errors->as_array()) {
      if (e.is_object()) {
        const auto* p = e.as_object().if_contains("path");
        const auto* m = e.as_object().if_contains("message");
        if (p != nullptr && m != nullptr && p->is_string() && m->is_string()) {
          out += "\n  " + std::string(p->as_string()) + ": " + std::string(m->as_string());
        }
      }
    }
  }
  return out;
}

}  // namespace txmail::cli
