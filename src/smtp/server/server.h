// SmtpServer: binds the configured listeners, accepts connections on one io thread per
// listener and hands each to a Session on the next io_context of the pool, enforcing the
// connection limits first (421 4.7.0). Owns the registry of live sessions for graceful
// shutdown: stop() closes the listeners, tells idle sessions 421, lets busy ones finish their
// transaction, and force-closes whatever is left when the grace period ends.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/io_pool.h"
#include "smtp/server/server_context.h"

namespace txmail::smtp {

class Session;

class SmtpServer {
 public:
  SmtpServer(ServerContext& ctx, net::IoPool& pool);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;
  SmtpServer(SmtpServer&&) = delete;
  SmtpServer& operator=(SmtpServer&&) = delete;

  // Binds every listener; the error names the listener that failed.
  Result<void> bind();
  // Bound addresses, in the order of the configured listeners (port 0 resolved).
  std::vector<tcp::endpoint> endpoints() const;
  void start();
  // Graceful stop; `done` runs once every session has ended (or been force-closed).
  void stop(std::function<void()> done);

 private:
  struct Listener {
    ListenerOptions options;
    std::unique_ptr<tcp::acceptor> acceptor;
  };

  static awaitable<void> accept_loop(SmtpServer* self, Listener* listener);
  static awaitable<void> refuse(tcp::socket socket, std::string text);
  static awaitable<void> run_session(SmtpServer* self, std::shared_ptr<Session> session,
                                     std::uint64_t id, std::string ip);
  void session_ended(std::uint64_t id, const std::string& ip);

  ServerContext& ctx_;
  net::IoPool& pool_;
  std::vector<Listener> listeners_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::function<void()> on_drained_;
  std::unique_ptr<asio::steady_timer> grace_timer_;
};

}  // namespace txmail::smtp
