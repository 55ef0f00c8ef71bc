#include "net/connection.h"

#include <openssl/ssl.h>

namespace txmail::net {

namespace {
asio::ssl::context& placeholder_context() {
  // ssl::stream needs a context even when TLS is never used on the connection.
  static asio::ssl::context ctx(asio::ssl::context::tls);
  return ctx;
}
}  // namespace

Connection::Connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
    : tls_ctx_(std::move(tls)),
      stream_(std::move(socket), tls_ctx_ ? *tls_ctx_ : placeholder_context()),
      timer_(stream_.get_executor()) {
  boost::system::error_code ec;
  const auto remote = stream_.next_layer().remote_endpoint(ec);
  if (!ec) {
    const auto addr = remote.address();
    remote_ip_ = addr.is_v6() && addr.to_v6().is_v4_mapped()
                     ? asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string()
                     : addr.to_string();
    remote_port_ = remote.port();
  }
  const auto local = stream_.next_layer().local_endpoint(ec);
  if (!ec) {
    local_ip_ = local.address().to_string();
  }
  stream_.next_layer().set_option(tcp::no_delay(true), ec);
}

void Connection::start() {
  asio::co_spawn(stream_.get_executor(), watchdog(shared_from_this()), asio::detached);
}

awaitable<void> Connection::watchdog(std::shared_ptr<Connection> self) {
  while (!self->closed_) {
    self->timer_.expires_at(self->deadline_);
    auto [ec] = co_await self->timer_.async_wait(use_tuple);
    if (!ec && !self->closed_ && Clock::now() >= self->deadline_) {
      self->timed_out_ = true;
      self->deadline_ = Clock::time_point::max();
      boost::system::error_code ignored;
      self->stream_.next_layer().cancel(ignored);
    }
  }
}

void Connection::set_deadline(Clock::duration timeout) {
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  timer_.cancel();  // the watchdog wakes and sleeps again until the new deadline
}

void Connection::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.next_layer().close(ignored);
}

void Connection::interrupt() {
  interrupted_ = true;
  boost::system::error_code ignored;
  stream_.next_layer().cancel(ignored);
}

Result<void> Connection::failure(const boost::system::error_code& ec, const char* what) {
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
  auto [ec, n] = tls_active_ ? co_await stream_.async_read_some(buf, use_tuple)
                             : co_await stream_.next_layer().async_read_some(buf, use_tuple);
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return tl::unexpected(failure(ec, "read").error());
  }
  co_return n;
}

awaitable<Result<void>> Connection::write(std::string_view data, Clock::duration timeout) {
  set_deadline(timeout);
  auto buf = asio::buffer(data.data(), data.size());
  auto [ec, n] = tls_active_ ? co_await asio::async_write(stream_, buf, use_tuple)
                             : co_await asio::async_write(stream_.next_layer(), buf, use_tuple);
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return failure(ec, "write");
  }
  co_return Result<void>();
}

awaitable<Result<void>> Connection::handshake_server(Clock::duration timeout) {
  if (!tls_ctx_) {
    co_return make_error(ErrorCode::kInternal, "no TLS context");
  }
  set_deadline(timeout);
  auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, use_tuple);
  deadline_ = Clock::time_point::max();
  if (ec) {
    co_return failure(ec, "tls handshake");
  }
  tls_active_ = true;
  co_return Result<void>();
}

std::string Connection::tls_version() const {
  if (!tls_active_) {
    return {};
  }
  return SSL_get_version(const_cast<asio::ssl::stream<tcp::socket>&>(stream_).native_handle());
}

std::string Connection::tls_cipher() const {
  if (!tls_active_) {
    return {};
  }
  return SSL_get_cipher_name(const_cast<asio::ssl::stream<tcp::socket>&>(stream_).native_handle());
}

}  // namespace txmail::net
