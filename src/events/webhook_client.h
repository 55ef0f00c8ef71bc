// WebhookConnection: one HTTP/1.1 connection to one push notification endpoint, used by one
// send at a time and kept alive between sends (issue hooks-2: every request runs as a
// coroutine on the dispatcher's io_context, so a hanging endpoint holds a socket, never a
// thread). Each request has one deadline for the whole exchange (connect, TLS, write, read):
// a server that trickles its answer cannot stretch it.
//
// Targets on loopback, private, link-local, NAT64 or IPv4-compatible addresses are refused
// unless allowed; the connection is bound to the configured source address; TLS verifies the
// certificate and the host name.
#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "dns/resolver.h"
#include "net/asio.h"
#include "net/http_url.h"

namespace txmail::events {

enum class Answer { kDelivered, kRefused, kRetry };

struct Attempt {
  Answer answer = Answer::kRetry;
  std::string error;
};

struct ConnectionOptions {
  std::string source_address;  // "" : the system's choice
  // Names are resolved through this ([dns] servers, as delivery does); null: the system's.
  dns::Resolver* resolver = nullptr;
  bool allow_private_targets = false;
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // one request, all of it
};

class WebhookConnection {
 public:
  WebhookConnection(asio::any_io_executor executor, const ConnectionOptions& options,
                    std::shared_ptr<asio::ssl::context> tls)
      : executor_(std::move(executor)), options_(options), tls_(std::move(tls)) {}

  // 2xx: delivered; 301-308 and 400-406, or a refused target: refused (not retried); anything
  // else, and network errors: retry.
  awaitable<Attempt> post(const net::HttpUrl& url,
                          boost::beast::http::request<boost::beast::http::string_body>& req);

  bool open() const { return plain_.has_value() || secure_.has_value(); }

  void close();

 private:
  awaitable<std::string> connect(const net::HttpUrl& url,
                                 std::chrono::steady_clock::time_point deadline);
  awaitable<boost::system::error_code> exchange(
      boost::beast::http::request<boost::beast::http::string_body>& req,
      boost::beast::http::response<boost::beast::http::string_body>& res,
      std::chrono::steady_clock::time_point deadline);

  asio::any_io_executor executor_;
  const ConnectionOptions& options_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> secure_;
  std::string key_;  // scheme://host:port of the open connection
};

// Whether a target address is loopback, private, link-local, unspecified, multicast, NAT64
// (64:ff9b::/96) or IPv4-compatible / -mapped IPv6 of such an address.
bool private_address(const std::string& ip);

}  // namespace txmail::events
