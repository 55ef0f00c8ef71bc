// Test support for the dispatcher's tests (not part of any library): an HTTP endpoint on
// loopback port 0, on a thread of its own, whose answer per path a test scripts (a list of
// statuses, the last one repeated; 200 when none), counting requests per path, notifications
// received and posts without a signature; a loopback URL where nothing listens; and a wait for
// a condition in real time.
#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "net/asio.h"

namespace txmail::events::test_support {

class TestEndpoint {
 public:
  TestEndpoint() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(this), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~TestEndpoint() {
    io_.stop();
    thread_.join();
  }

  TestEndpoint(const TestEndpoint&) = delete;
  TestEndpoint& operator=(const TestEndpoint&) = delete;
  TestEndpoint(TestEndpoint&&) = delete;
  TestEndpoint& operator=(TestEndpoint&&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  void script(const std::string& path, std::deque<int> statuses) {
    std::lock_guard lock(mutex_);
    scripts_[path] = std::move(statuses);
  }

  std::size_t requests(const std::string& path) {
    std::lock_guard lock(mutex_);
    return requests_[path];
  }

  std::size_t notifications() {
    std::lock_guard lock(mutex_);
    return notifications_;
  }

  std::size_t unsigned_posts() {
    std::lock_guard lock(mutex_);
    return unsigned_posts_;
  }

 private:
  int answer(const std::string& path, const std::string& body, bool is_signed) {
    std::lock_guard lock(mutex_);
    ++requests_[path];
    unsigned_posts_ += is_signed ? 0 : 1;
    notifications_ += boost::json::parse(body).at("notifications").as_array().size();
    auto& s = scripts_[path];
    if (s.empty()) {
      return 200;
    }
    const int status = s.front();
    if (s.size() > 1) {
      s.pop_front();
    }
    return status;
  }

  static awaitable<void> accept_loop(TestEndpoint* self) {
    for (;;) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      asio::co_spawn(self->io_, session(self, std::move(socket)), asio::detached);
    }
  }

  static awaitable<void> session(TestEndpoint* self, tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(socket, buffer, req, use_tuple);
      if (ec) {
        co_return;
      }
      const int status =
          self->answer(std::string(req.target()), req.body(), !req["X-Txmail-Signature"].empty());
      http::response<http::string_body> res(static_cast<http::status>(status), req.version());
      if (status >= 300 && status < 400) {
        res.set(http::field::location, "http://127.0.0.1:1/elsewhere");
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(socket, res, use_tuple);
      if (wec || !res.keep_alive()) {
        co_return;
      }
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::deque<int>> scripts_;
  std::map<std::string, std::size_t> requests_;
  std::size_t notifications_ = 0;
  std::size_t unsigned_posts_ = 0;
};

// A loopback URL where nothing listens: every connection is refused at once.
inline std::string closed_url() {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = probe.local_endpoint().port();
  probe.close();
  return "http://127.0.0.1:" + std::to_string(port) + "/hook";
}

// Waits (in real time, up to `limit`) until `done` holds.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace txmail::events::test_support
