#include "events/webhook_client.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "dns/mx.h"
#include "net/tls_context.h"

namespace txmail::events {

namespace beast = boost::beast;
namespace http = beast::http;

void WebhookConnection::close() {
  plain_.reset();
  secure_.reset();
  key_.clear();
}

awaitable<Attempt> WebhookConnection::post(const net::HttpUrl& url,
                                           http::request<http::string_body>& req) {
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  const std::string key = (url.tls ? "https://" : "http://") + url.host + ":" + url.port;
  for (int round = 0; round < 2; ++round) {
    const bool reused = key == key_ && open();
    if (!reused) {
      if (auto err = co_await connect(url, deadline); !err.empty()) {
        co_return Attempt{err.starts_with("refused") ? Answer::kRefused : Answer::kRetry, err};
      }
      key_ = key;
    }
    http::response<http::string_body> res;
    const auto ec = co_await exchange(req, res, deadline);
    if (ec) {
      close();
      if (reused && round == 0 && std::chrono::steady_clock::now() < deadline) {
        continue;  // the server closed an idle kept-alive connection: once more, fresh
      }
      co_return Attempt{Answer::kRetry, ec == beast::error::timeout
                                            ? "network: no answer within the request timeout"
                                            : "network: " + ec.message()};
    }
    if (!res.keep_alive()) {
      close();
    }
    const int status = static_cast<int>(res.result_int());
    if (status >= 200 && status < 300) {
      co_return Attempt{Answer::kDelivered, {}};
    }
    const std::string what = "HTTP " + std::to_string(status);
    if ((status >= 301 && status <= 308) || (status >= 400 && status <= 406)) {
      co_return Attempt{Answer::kRefused, what};
    }
    co_return Attempt{Answer::kRetry, what};
  }
  co_return Attempt{Answer::kRetry, "network: connection lost"};
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
awaitable<std::string> WebhookConnection::connect(const net::HttpUrl& url,
                                                  std::chrono::steady_clock::time_point deadline) {
  close();
  std::vector<tcp::endpoint> found;
  boost::system::error_code aec;
  const auto literal = asio::ip::make_address(url.host, aec);
  const auto port = static_cast<std::uint16_t>(std::strtoul(url.port.c_str(), nullptr, 10));
  if (!aec) {
    found.emplace_back(literal, port);
  } else if (options_.resolver != nullptr) {
    auto addresses = co_await dns::resolve_addresses(*options_.resolver, url.host);
    if (!addresses) {
      co_return "network: cannot resolve " + url.host + ": " + addresses.error().detail;
    }
    for (const auto& a : *addresses) {
      boost::system::error_code ec;
      const auto ip = asio::ip::make_address(a, ec);
      if (!ec) {
        found.emplace_back(ip, port);
      }
    }
  } else {
    tcp::resolver resolver(executor_);
    auto [rec, results] = co_await resolver.async_resolve(url.host, url.port, use_tuple);
    if (rec) {
      co_return "network: cannot resolve " + url.host + ": " + rec.message();
    }
    for (const auto& r : results) {
      found.push_back(r.endpoint());
    }
  }
  std::vector<tcp::endpoint> targets;
  for (const auto& endpoint : found) {
    if (!options_.allow_private_targets && private_address(endpoint.address().to_string())) {
      co_return "refused: " + url.host + " resolves to " + endpoint.address().to_string()
          + ", a loopback, private or link-local address ([notifications] allow_private_targets)";
    }
    targets.push_back(endpoint);
  }
  if (targets.empty()) {
    co_return "network: " + url.host + " has no address";
  }
  beast::tcp_stream stream(executor_);
  boost::system::error_code ec;
  for (const auto& target : targets) {
    boost::system::error_code cec;
    stream.socket().close(cec);
    stream.socket().open(target.protocol(), cec);
    if (!cec && !options_.source_address.empty()) {
      const auto source = asio::ip::make_address(options_.source_address, cec);
      if (!cec && source.is_v4() == target.address().is_v4()) {
        stream.socket().bind(tcp::endpoint(source, 0), cec);
      }
    }
    if (cec) {
      ec = cec;
      continue;
    }
    stream.expires_at(deadline);
    auto [connect_ec] = co_await stream.async_connect(target, use_tuple);
    ec = connect_ec;
    if (!ec) {
      break;
    }
  }
  if (ec) {
    co_return "network: cannot connect to " + url.host + ":" + url.port + ": "
        + (ec == beast::error::timeout ? std::string("timed out") : ec.message());
  }
  if (!url.tls) {
    plain_.emplace(std::move(stream));
    co_return std::string();
  }
  secure_.emplace(std::move(stream), *tls_);
  net::set_server_name(secure_->native_handle(), url.host);
  secure_->set_verify_callback(asio::ssl::host_name_verification(url.host));
  beast::get_lowest_layer(*secure_).expires_at(deadline);
  auto [hec] = co_await secure_->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (hec) {
    close();
    co_return "network: TLS with " + url.host + ": " + hec.message();
  }
  co_return std::string();
}

awaitable<boost::system::error_code> WebhookConnection::exchange(
    http::request<http::string_body>& req, http::response<http::string_body>& res,
    std::chrono::steady_clock::time_point deadline) {
  beast::flat_buffer buffer;
  if (plain_) {
    plain_->expires_at(deadline);
    auto [wec, wn] = co_await http::async_write(*plain_, req, use_tuple);
    if (wec) {
      co_return wec;
    }
    auto [rec, rn] = co_await http::async_read(*plain_, buffer, res, use_tuple);
    co_return rec;
  }
  beast::get_lowest_layer(*secure_).expires_at(deadline);
  auto [wec, wn] = co_await http::async_write(*secure_, req, use_tuple);
  if (wec) {
    co_return wec;
  }
  auto [rec, rn] = co_await http::async_read(*secure_, buffer, res, use_tuple);
  co_return rec;
}

bool private_address(const std::string& ip) {
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(ip, ec);
  if (ec) {
    return true;
  }
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return a.is_loopback() || a.is_unspecified() || a.is_multicast() || b[0] == 10
           || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
           || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] == 0;
  }
  const auto v6 = a.to_v6();
  const auto b = v6.to_bytes();
  const auto embedded_v4 = [&b] {
    return asio::ip::address_v4(asio::ip::address_v4::bytes_type{b[12], b[13], b[14], b[15]})
        .to_string();
  };
  if (v6.is_v4_mapped()) {
    return private_address(embedded_v4());
  }
  // NAT64 (64:ff9b::/96, RFC 6052) and the deprecated IPv4-compatible form (::a.b.c.d) reach
  // the IPv4 address inside them: judge that address.
  const bool nat64 =
      b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b
      && std::all_of(b.begin() + 4, b.begin() + 12, [](unsigned char c) { return c == 0; });
  const bool compatible =
      std::all_of(b.begin(), b.begin() + 12, [](unsigned char c) { return c == 0; })
      && !v6.is_loopback() && !v6.is_unspecified();
  if (nat64 || compatible) {
    return private_address(embedded_v4());
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00
      && b[5] == 0x01) {
    return true;  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): translates to anything
  }
  return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.is_link_local()
         || (b[0] & 0xFE) == 0xFC;
}

}  // namespace txmail::events
