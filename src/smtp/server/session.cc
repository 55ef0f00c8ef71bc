#include "smtp/server/session.h"

#include <cstring>

#include "common/ids.h"
#include "common/log.h"

namespace txmail::smtp {

Session::Session(ServerContext& ctx, const ListenerOptions& listener,
                 std::shared_ptr<net::Connection> conn)
    : ctx_(ctx), listener_(listener), conn_(std::move(conn)) {
  std::string raw(4, '\0');
  random_bytes(raw.data(), raw.size());
  id_ = hex(raw);
  ip_account_ = ctx_.accounts.account_for_ip(conn_->remote_ip());
}

void Session::stop() {
  stopping_ = true;
  if (idle_) {
    conn_->interrupt();
  }
}

awaitable<void> Session::run(std::shared_ptr<Session> self) {
  self->conn_->start();
  self->session_deadline_ = std::chrono::steady_clock::now() + self->ctx_.options.session_timeout;
  bool failed = false;
  try {
    co_await self->loop();
  } catch (const std::exception& e) {
    logger()->error("smtp session={} client={} failed: {}", self->id_, self->conn_->remote_ip(),
                    e.what());
    failed = true;
  }
  if (failed) {  // the client hears why the channel closes; nothing it sent was acknowledged
    self->reply(421, "4.3.0", "Internal error, closing transmission channel");
    try {
      co_await self->flush();
    } catch (const std::exception&) {
    }
  }
  self->conn_->close();
  logger()->debug("smtp session={} closed messages={}", self->id_, self->messages_);
}

awaitable<void> Session::loop() {
  if (listener_.mode == ListenerMode::kSubmissions && !co_await start_implicit_tls()) {
    co_return;
  }
  if (auto why = ctx_.refuse_intake ? ctx_.refuse_intake() : std::nullopt) {
    logger()->info("smtp session={} client={} refused at greeting: {}", id_, conn_->remote_ip(),
                   *why);
    reply(421, "4.3.2", "Service not available, closing transmission channel");
    co_await flush();
    co_return;
  }
  reply(Reply(220, "", ctx_.options.hostname + " ESMTP txmail"));
  while (!quit_) {
    if (stopping_) {
      reply(421, "4.3.2", "Service shutting down, closing transmission channel");
      break;
    }
    if (errors_ >= ctx_.options.max_errors) {
      reply(421, "4.7.0", "Too many errors, closing transmission channel");
      break;
    }
    auto line = co_await read_line();
    if (!line) {
      break;
    }
    co_await dispatch(*line);
  }
  co_await flush();
}

void Session::reply(const Reply& r) {
  if (r.code >= 500) {
    ++errors_;
  }
  r.append_wire(out_);
}

void Session::reply(int code, const char* enhanced, const char* text) {
  reply(Reply(code, enhanced, text));
}

std::string_view Session::buffered() const {
  return {in_.get() + in_pos_, in_end_ - in_pos_};
}

void Session::consume(std::size_t n) {
  in_pos_ += n;
  if (in_pos_ == in_end_) {
    in_pos_ = 0;
    in_end_ = 0;
  }
}

awaitable<bool> Session::flush() {
  if (out_.empty()) {
    co_return true;
  }
  auto r = co_await conn_->write(out_, ctx_.options.command_timeout);
  out_.clear();
  co_return r.has_value();
}

awaitable<bool> Session::fill_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  co_return co_await fill(std::max(left, std::chrono::milliseconds(1)));
}

std::chrono::steady_clock::time_point Session::data_deadline(
    std::chrono::steady_clock::time_point start, std::uint64_t received) const {
  const auto earned = std::chrono::milliseconds(received * 1000 / ctx_.options.min_data_rate);
  return start + ctx_.options.data_timeout + earned;
}

// Reads more input; replies go out first, so a pipelining client is never left waiting.
// `timeout` is cut to what is left of the session's own time.
awaitable<bool> Session::fill(std::chrono::milliseconds timeout) {
  if (!co_await flush()) {
    co_return false;
  }
  const auto session_left = std::chrono::duration_cast<std::chrono::milliseconds>(
      session_deadline_ - std::chrono::steady_clock::now());
  if (session_left <= std::chrono::milliseconds(0)) {
    logger()->info("smtp session={} client={} ended: session time limit", id_, conn_->remote_ip());
    reply(421, "4.4.2", "Session time limit reached, closing transmission channel");
    co_await flush();
    co_return false;
  }
  timeout = std::max(std::min(timeout, session_left), std::chrono::milliseconds(1));
  if (in_pos_ > 0) {
    std::memmove(in_.get(), in_.get() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  auto n = co_await conn_->read_some(in_.get() + in_end_, kInputSize - in_end_, timeout);
  if (n) {
    in_end_ += *n;
  } else {
    if (n.error().code == ErrorCode::kTimeout) {
      reply(421, "4.4.2", "Timeout exceeded, closing transmission channel");
      co_await flush();
    } else if (n.error().code == ErrorCode::kUnavailable) {
      reply(421, "4.3.2", "Service shutting down, closing transmission channel");
      co_await flush();
    }
    co_return false;
  }
  co_return true;
}

// One command line without its terminator. CRLF ends a line; so does a lone LF, as many
// clients send it (only message data is strict about CRLF). A line longer than the limit is
// answered 500 5.5.2 and skipped, without being buffered whole.
awaitable<std::optional<std::string>> Session::read_line() {
  bool skipping = false;
  // The whole line within command_timeout, however slowly its bytes trickle in.
  const auto deadline = std::chrono::steady_clock::now() + ctx_.options.command_timeout;
  for (;;) {
    const std::string_view data = buffered();
    const std::size_t lf = data.find('\n');
    if (lf != std::string_view::npos) {
      if (skipping || lf + 1 > kMaxCommandLine) {
        consume(lf + 1);
        reply(500, "5.5.2", "Line too long");
        skipping = false;
        if (errors_ >= ctx_.options.max_errors) {
          reply(421, "4.7.0", "Too many errors, closing transmission channel");
          co_return std::nullopt;
        }
        continue;
      }
      std::string line(data.substr(0, lf));
      consume(lf + 1);
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      co_return line;
    }
    if (data.size() > kMaxCommandLine) {
      consume(data.size());
      skipping = true;
    }
    // Replies go out first: only the wait for the client's next command may be interrupted
    // by a graceful stop.
    if (!co_await flush()) {
      co_return std::nullopt;
    }
    idle_ = true;
    const bool ok = co_await fill_until(deadline);
    idle_ = false;
    if (!ok) {
      co_return std::nullopt;
    }
  }
}

void Session::reset_transaction() {
  envelope_ = Envelope{};
  message_.clear();
  message_.shrink_to_fit();
  bdat_.reset();
  bdat_failed_ = false;
  if (phase_ == Phase::kMail || phase_ == Phase::kRcpt) {
    phase_ = Phase::kGreeted;
  }
}

awaitable<void> Session::dispatch(const std::string& line) {
  auto parsed = parse_command(line);
  if (!parsed) {
    reply(parsed.error());
    co_return;
  }
  Command& cmd = *parsed;
  switch (cmd.verb) {
    case Verb::kEhlo:
      on_ehlo(cmd);
      break;
    case Verb::kHelo:
      on_helo(cmd);
      break;
    case Verb::kMail:
      co_await inflow_wait();
      on_mail(std::move(cmd));
      break;
    case Verb::kRcpt:
      on_rcpt(std::move(cmd));
      break;
    case Verb::kData:
      co_await on_data();
      break;
    case Verb::kBdat:
      co_await on_bdat(cmd);
      break;
    case Verb::kRset:
      on_rset();
      break;
    case Verb::kStartTls:
      co_await on_starttls();
      break;
    case Verb::kAuth:
      co_await on_auth(cmd);
      break;
    case Verb::kNoop:
    case Verb::kQuit:
    case Verb::kVrfy:
    case Verb::kExpn:
    case Verb::kHelp:
      on_small(cmd);
      break;
  }
}

}  // namespace txmail::smtp
