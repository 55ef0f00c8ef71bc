#include "smtp/server/server.h"

#include "common/log.h"
#include "net/connection.h"
#include "smtp/proto/reply.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

SmtpServer::SmtpServer(ServerContext& ctx, net::IoPool& pool) : ctx_(ctx), pool_(pool) {}

SmtpServer::~SmtpServer() = default;

Result<void> SmtpServer::bind() {
  for (const auto& opts : ctx_.options.listeners) {
    if (opts.mode == ListenerMode::kSubmissions && !ctx_.tls) {
      return make_error(ErrorCode::kConfig, "smtp.listener: mode submissions needs TLS");
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(opts.address, ec);
    if (ec) {
      return make_error(ErrorCode::kConfig, "smtp.listener.address: bad IP '" + opts.address + "'");
    }
    // Acceptors live on the first io_context; sessions are spread over all of them.
    auto acceptor = std::make_unique<tcp::acceptor>(pool_.at(0));
    const tcp::endpoint endpoint(address, opts.port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor->bind(endpoint, ec);
    }
    if (!ec) {
      acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return make_error(ErrorCode::kConfig, "smtp.listener.address: cannot listen on "
                                                + opts.address + ":" + std::to_string(opts.port)
                                                + ": " + ec.message());
    }
    listeners_.push_back(Listener{opts, std::move(acceptor)});
  }
  return {};
}

std::vector<tcp::endpoint> SmtpServer::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& l : listeners_) {
    boost::system::error_code ec;
    out.push_back(l.acceptor->local_endpoint(ec));
  }
  return out;
}

void SmtpServer::start() {
  for (auto& l : listeners_) {
    spawn_essential(pool_.at(0).get_executor(), "the SMTP accept loop",
                    [this, &l] { return accept_loop(this, &l); });
  }
}

awaitable<void> SmtpServer::refuse(tcp::socket socket, std::string text) {
  // Best effort: the peer is over a limit and gets one line, with a short deadline.
  asio::steady_timer timer(socket.get_executor(), std::chrono::seconds(5));
  timer.async_wait([&socket](const boost::system::error_code& ec) {
    if (!ec) {
      boost::system::error_code ignored;
      socket.cancel(ignored);
    }
  });
  co_await asio::async_write(socket, asio::buffer(text), use_tuple);
  timer.cancel();
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

awaitable<void> SmtpServer::accept_loop(SmtpServer* self, Listener* listener) {
  for (;;) {
    asio::io_context& target = self->pool_.next();
    auto [ec, socket] = co_await listener->acceptor->async_accept(target, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !listener->acceptor->is_open()) {
        co_return;
      }
      // Out of descriptors and the like: log, breathe, go on.
      logger()->warn("smtp accept failed: {}", ec.message());
      asio::steady_timer pause(listener->acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    boost::system::error_code ep_ec;
    auto remote = socket.remote_endpoint(ep_ec);
    if (ep_ec) {
      continue;
    }
    auto addr = remote.address();
    const std::string ip =
        addr.is_v6() && addr.to_v6().is_v4_mapped()
            ? asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string()
            : addr.to_string();
    std::uint64_t id = 0;
    {
      std::lock_guard lock(self->mutex_);
      if (self->stopping_) {
        co_return;
      }
      id = self->next_id_++;
    }
    if (!self->ctx_.connections.acquire(ip)) {
      logger()->info("smtp client={} refused: connection limit", ip);
      auto ex = socket.get_executor();
      asio::co_spawn(ex,
                     refuse(std::move(socket),
                            Reply(421, "4.7.0", "Too many connections, try again later").wire()),
                     log_failure("an SMTP refusal"));
      continue;
    }
    auto conn = std::make_shared<net::Connection>(std::move(socket), self->ctx_.tls);
    auto session = std::make_shared<Session>(self->ctx_, listener->options, conn);
    {
      std::lock_guard lock(self->mutex_);
      self->sessions_.emplace(id, session);
    }
    asio::co_spawn(conn->executor(), run_session(self, std::move(session), id, ip),
                   log_failure("an SMTP session"));
  }
}

awaitable<void> SmtpServer::run_session(SmtpServer* self, std::shared_ptr<Session> session,
                                        std::uint64_t id, std::string ip) {
  co_await Session::run(session);
  session.reset();
  self->session_ended(id, ip);
}

void SmtpServer::session_ended(std::uint64_t id, const std::string& ip) {
  ctx_.connections.release(ip);
  std::function<void()> done;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
    if (stopping_ && sessions_.empty() && on_drained_) {
      done = std::move(on_drained_);
      on_drained_ = nullptr;
    }
  }
  if (done) {
    done();
  }
}

void SmtpServer::stop(std::function<void()> done) {
  std::vector<std::shared_ptr<Session>> live;
  std::function<void()> now;  // no session: `done` runs now, not when the last one ends
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) {
        live.push_back(std::move(s));
      }
    }
    if (sessions_.empty()) {
      live.clear();
      now = std::move(done);
    } else {
      on_drained_ = std::move(done);
    }
  }
  asio::post(pool_.at(0), [this] {
    for (auto& l : listeners_) {
      boost::system::error_code ignored;
      l.acceptor->close(ignored);
    }
  });
  if (now) {  // nothing was running
    now();
    return;
  }
  for (auto& s : live) {
    asio::post(s->executor(), [s] { s->stop(); });
  }
  // Whatever has not finished when the grace period ends is closed hard.
  grace_timer_ = std::make_unique<asio::steady_timer>(pool_.at(0), ctx_.options.shutdown_grace);
  grace_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) {
        asio::post(s->executor(), [s] { s->force_close(); });
      }
    }
  });
}

}  // namespace txmail::smtp
