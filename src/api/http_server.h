// The HTTP server (Boost.Beast): plain HTTP and HTTPS listeners, keep-alive, limits on header
// size, body size, connections and idle time. Each request becomes an api::Request handed to
// the handler on the worker pool (handlers may touch the disk or hash passwords); the handler
// answers through its completion function, from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "common/result.h"
#include "net/asio.h"
#include "net/cidr.h"
#include "net/io_pool.h"

namespace txmail::api {

struct HttpListener {
  std::string address;  // "IP:PORT"
  bool tls = false;
};

struct HttpOptions {
  std::vector<HttpListener> listeners;
  std::size_t max_header_bytes = std::size_t{16} * 1024;
  // A 20 MB message arrives base64-encoded inside JSON: 20 MB * 4/3 plus the rest.
  std::size_t max_body_bytes = std::size_t{30} * 1024 * 1024;
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_ip = 64;
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);  // a request's whole header
  // Reverse proxies whose X-Forwarded-For is believed (the client is the last address in it
  // that is not one of them); their own connections are not limited per address.
  std::vector<net::Cidr> trusted_proxies;
  std::chrono::milliseconds request_timeout = std::chrono::seconds(120);
  std::string server_name = "txmail";
};

class HttpServer {
 public:
  using Done = std::function<void(Response)>;
  using Handler = std::function<void(Request, Done)>;
  // Runs on a worker before "100 Continue" is sent: a Response refuses the request (its body
  // is never invited), nullopt lets it go on. The request has its headers, no body.
  using Precheck = std::function<std::optional<Response>(const Request&)>;

  HttpServer(HttpOptions options, std::shared_ptr<asio::ssl::context> tls, net::IoPool& io,
             asio::thread_pool& workers, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  HttpServer(HttpServer&&) = delete;
  HttpServer& operator=(HttpServer&&) = delete;

  Result<void> bind();
  void set_precheck(Precheck precheck);
  void start();
  // Stops accepting and closes idle connections; requests in progress finish.
  void stop();

  // (endpoint, tls) of each bound listener, in configuration order.
  std::vector<std::pair<tcp::endpoint, bool>> endpoints() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace txmail::api
