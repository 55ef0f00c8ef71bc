#include "net/connection.h"

#include <openssl/ssl.h>

#include <array>

#include "net/tls_context.h"

namespace txmail::net {

Connection::Connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
    : tls_ctx_(std::move(tls)), socket_(std::move(socket)), timer_(socket_.get_executor()) {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    const auto addr = remote.address();
    remote_ip_ = addr.is_v6() && addr.to_v6().is_v4_mapped()
                     ? asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string()
                     : addr.to_string();
    remote_port_ = remote.port();
  }
  const auto local = socket_.local_endpoint(ec);
  if (!ec) {
    local_ip_ = local.address().to_string();
  }
  socket_.set_option(tcp::no_delay(true), ec);
}

void Connection::start() {
  asio::co_spawn(socket_.get_executor(), watchdog(shared_from_this()),
                 log_failure("a connection watchdog"));
}

awaitable<void> Connection::watchdog(std::shared_ptr<Connection> self) {
  while (!self->closed_) {
    self->timer_.expires_at(self->deadline_);
    auto [ec] = co_await self->timer_.async_wait(use_tuple);
    if (!ec && !self->closed_ && Clock::now() >= self->deadline_) {
      self->timed_out_ = true;
      self->deadline_ = Clock::time_point::max();
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    }
  }
}

void Connection::set_deadline(Clock::duration timeout) {
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  // Only a deadline earlier than the watchdog's alarm needs to wake it. A later one (the
  // common case: the same timeout, a little later) is found when the alarm goes off and the
  // watchdog sleeps on until it, so a busy connection costs no timer work per read.
  if (deadline_ < timer_.expiry()) {
    timer_.cancel();
  }
}

void Connection::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void Connection::interrupt() {
  interrupted_ = true;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

Result<void> Connection::failure(const boost::system::error_code& ec, const char* what) const {
  if (timed_out_) {
    return make_error(ErrorCode::kTimeout, std::string(what) + ": timed out");
  }
  if (interrupted_) {
    return make_error(ErrorCode::kUnavailable, std::string(what) + ": interrupted");
  }
  return make_error(ErrorCode::kNetwork, std::string(what) + ": " + ec.message());
}

awaitable<Result<std::size_t>> Connection::read_some(char* data, std::size_t size,
                                                     Clock::duration timeout) {
  if (interrupted_) {
    co_return tl::unexpected(failure({}, "read").error());
  }
  set_deadline(timeout);
  auto buf = asio::buffer(data, size);
  // if/else rather than ?: around co_await: g++ 12 miscompiles some conditional co_awaits.
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_active_) {
    result = co_await tls_stream_->async_read_some(buf, use_tuple);
  } else {
    result = co_await socket_.async_read_some(buf, use_tuple);
  }
  auto [ec, n] = result;
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return tl::unexpected(failure(ec, "read").error());
  }
  co_return n;
}

awaitable<Result<void>> Connection::write(std::string_view data, Clock::duration timeout) {
  co_return co_await write(data, std::string_view(), timeout);
}

awaitable<Result<void>> Connection::write(std::string_view first, std::string_view second,
                                          Clock::duration timeout) {
  set_deadline(timeout);
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(first.data(), first.size()),
                                               asio::buffer(second.data(), second.size())};
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_active_) {
    result = co_await asio::async_write(*tls_stream_, bufs, use_tuple);
  } else {
    result = co_await asio::async_write(socket_, bufs, use_tuple);
  }
  auto [ec, n] = result;
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return failure(ec, "write");
  }
  co_return Result<void>();
}

awaitable<Result<void>> Connection::handshake(asio::ssl::stream_base::handshake_type type,
                                              Clock::duration timeout) {
  set_deadline(timeout);
  auto [ec] = co_await tls_stream_->async_handshake(type, use_tuple);
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return failure(ec, "tls handshake");
  }
  tls_active_ = true;
  co_return Result<void>();
}

awaitable<Result<void>> Connection::handshake_server(Clock::duration timeout) {
  if (!tls_ctx_) {
    co_return make_error(ErrorCode::kInternal, "no TLS context");
  }
  tls_stream_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_ctx_);
  co_return co_await handshake(asio::ssl::stream_base::server, timeout);
}

awaitable<Result<void>> Connection::handshake_client(const std::string& host, bool verify,
                                                     Clock::duration timeout) {
  if (!tls_ctx_) {
    co_return make_error(ErrorCode::kInternal, "no TLS context");
  }
  tls_stream_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_ctx_);
  SSL* ssl = tls_stream_->native_handle();
  set_server_name(ssl, host);
  if (verify) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    SSL_set1_host(ssl, host.c_str());
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  co_return co_await handshake(asio::ssl::stream_base::client, timeout);
}

awaitable<Result<tcp::socket>> Connection::connect(asio::any_io_executor executor,
                                                   const std::string& ip, std::uint16_t port,
                                                   const std::string& source,
                                                   Clock::duration timeout) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(ip, ec);
  if (ec) {
    co_return make_error(ErrorCode::kInvalidArgument, "not an IP address: " + ip);
  }
  tcp::socket socket(executor);
  socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec && !source.empty()) {
    const auto local = asio::ip::make_address(source, ec);
    if (!ec) {
      socket.bind(tcp::endpoint(local, 0), ec);
    }
  }
  if (ec) {
    co_return make_error(ErrorCode::kNetwork, "cannot bind to " + source + ": " + ec.message());
  }
  asio::steady_timer timer(executor, timeout);
  bool timed_out = false;
  timer.async_wait([&socket, &timed_out](const boost::system::error_code& e) {
    if (!e) {
      timed_out = true;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    }
  });
  auto [cec] = co_await socket.async_connect(tcp::endpoint(address, port), use_tuple);
  timer.cancel();
  if (cec) {
    co_return make_error(timed_out ? ErrorCode::kTimeout : ErrorCode::kNetwork,
                         "connect " + ip + ":" + std::to_string(port) + ": "
                             + (timed_out ? "timed out" : cec.message()));
  }
  socket.set_option(tcp::no_delay(true), ec);
  co_return std::move(socket);
}

std::string Connection::tls_version() const {
  if (!tls_active_) {
    return {};
  }
  return SSL_get_version(tls_stream_->native_handle());
}

std::string Connection::tls_cipher() const {
  if (!tls_active_) {
    return {};
  }
  return SSL_get_cipher_name(tls_stream_->native_handle());
}

}  // namespace txmail::net
