// Connection: one TCP connection that can turn into TLS (STARTTLS) or start as TLS, with a
// deadline on every wait. Used by the SMTP server now and by the SMTP client and HTTP later.
//
// Deadlines: a watchdog coroutine, holding the connection alive, sleeps until the current
// deadline and cancels the socket when it passes; the failed wait then reports kTimeout.
// interrupt() (graceful shutdown) cancels the current wait, which reports kUnavailable.
// All calls run on the connection's executor (one io_context thread): no locking.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "net/asio.h"

namespace txmail::net {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;

  Connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls);

  // Starts the watchdog; call once, from the connection's executor.
  void start();
  // Stops the watchdog and closes the socket.
  void close();
  // Cancels the current wait (from the connection's executor).
  void interrupt();

  awaitable<Result<std::size_t>> read_some(char* data, std::size_t size, Clock::duration timeout);
  awaitable<Result<void>> write(std::string_view data, Clock::duration timeout);
  // Both pieces in one gathered write: a large body and its short tail without a copy.
  awaitable<Result<void>> write(std::string_view first, std::string_view second,
                                Clock::duration timeout);
  awaitable<Result<void>> handshake_server(Clock::duration timeout);
  // Client side of TLS with SNI `host`; with a verifying context the peer certificate must
  // match `host`.
  awaitable<Result<void>> handshake_client(const std::string& host, bool verify,
                                           Clock::duration timeout);

  // Opens a TCP connection to ip:port from `source` (empty: any), within `timeout`.
  static awaitable<Result<tcp::socket>> connect(asio::any_io_executor executor,
                                                const std::string& ip, std::uint16_t port,
                                                const std::string& source, Clock::duration timeout);

  bool tls() const { return tls_active_; }

  std::string tls_version() const;
  std::string tls_cipher() const;

  const std::string& remote_ip() const { return remote_ip_; }

  std::uint16_t remote_port() const { return remote_port_; }

  const std::string& local_ip() const { return local_ip_; }

  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  void set_deadline(Clock::duration timeout);
  Result<void> failure(const boost::system::error_code& ec, const char* what) const;
  static awaitable<void> watchdog(std::shared_ptr<Connection> self);

  std::shared_ptr<asio::ssl::context> tls_ctx_;
  tcp::socket socket_;
  awaitable<Result<void>> handshake(asio::ssl::stream_base::handshake_type type,
                                    Clock::duration timeout);
  // Created at the handshake only: most connections of a relay never use TLS, and an SSL
  // object costs allocations.
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_stream_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool tls_active_ = false;
  bool timed_out_ = false;
  bool interrupted_ = false;
  bool closed_ = false;
  std::string remote_ip_;
  std::uint16_t remote_port_ = 0;
  std::string local_ip_;
};

}  // namespace txmail::net
