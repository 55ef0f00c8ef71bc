// AUTH PLAIN and LOGIN (RFC 4954, RFC 4616), offered and accepted only over TLS.
//
// The slow password hash runs on the worker pool; a recent successful verification of the
// same credentials is answered from a cache (Accounts::cached_login). Failures are limited per
// connection (then 421) and per client IP within a window (then AUTH is refused).
#include "common/log.h"
#include "smtp/proto/sasl.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

namespace {

awaitable<Result<std::string>> verify_on_worker(Accounts* accounts, std::string user,
                                                std::string password) {
  co_return accounts->verify_login(user, password);
}

}  // namespace

awaitable<void> Session::on_auth(const Command& cmd) {
  if (!esmtp_) {
    reply(503, "5.5.1", "Send EHLO first");
    co_return;
  }
  if (account_) {
    reply(503, "5.5.1", "Already authenticated");
    co_return;
  }
  if (phase_ == Phase::kMail || phase_ == Phase::kRcpt) {
    reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
    co_return;
  }
  if (!conn_->tls()) {
    reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    co_return;
  }
  if (ctx_.auth_failures.blocked(conn_->remote_ip(), net::AuthFailureLimiter::Clock::now())) {
    reply(454, "4.7.0", "Too many authentication failures from your address, try again later");
    co_return;
  }
  // Whose password it is, checked once the response names the user.
  auth_user_.clear();
  std::string user;
  std::string password;
  if (cmd.mechanism == "PLAIN") {
    std::optional<std::string> response = cmd.initial_response;
    if (!response) {
      response = co_await auth_response("");
    }
    if (!response) {
      co_return;
    }
    auto credentials = decode_plain_response(*response);
    if (!credentials) {
      switch (credentials.error()) {
        case SaslError::kUndecodable:
          reply(501, "5.5.2", "Cannot decode response");
          break;
        case SaslError::kMalformed:
          reply(501, "5.5.2", "Malformed PLAIN response");
          break;
      }
      co_return;
    }
    user = std::move(credentials->user);
    password = std::move(credentials->password);
    // An authzid other than the authcid is not allowed.
    if (!credentials->authzid.empty() && credentials->authzid != user) {
      auth_user_ = user;
      auth_failed("authzid differs");
      co_return;
    }
  } else if (cmd.mechanism == "LOGIN") {
    std::optional<std::string> u = cmd.initial_response;
    if (!u) {
      u = co_await auth_response("VXNlcm5hbWU6");  // "Username:"
    }
    std::optional<std::string> decoded_user = u ? decode_login_response(*u) : std::nullopt;
    if (!decoded_user) {
      if (u) {
        reply(501, "5.5.2", "Cannot decode response");
      }
      co_return;
    }
    user = std::move(*decoded_user);
    auto p = co_await auth_response("UGFzc3dvcmQ6");  // "Password:"
    std::optional<std::string> decoded_password = p ? decode_login_response(*p) : std::nullopt;
    if (!decoded_password) {
      if (p) {
        reply(501, "5.5.2", "Cannot decode response");
      }
      co_return;
    }
    password = std::move(*decoded_password);
  } else {
    reply(504, "5.5.4", "Unrecognized authentication type");
    co_return;
  }
  co_await finish_auth(std::move(user), std::move(password));
}

// Sends a 334 challenge and reads the client's line; "*" cancels (RFC 4954 section 4).
awaitable<std::optional<std::string>> Session::auth_response(const char* challenge_b64) {
  out_.append("334 ").append(challenge_b64).append("\r\n");
  auto line = co_await read_line();
  if (!line) {
    quit_ = true;
    co_return std::nullopt;
  }
  if (*line == "*") {
    reply(501, "5.0.0", "Authentication cancelled");
    co_return std::nullopt;
  }
  co_return line;
}

awaitable<void> Session::finish_auth(std::string user, std::string password) {
  auth_user_ = user;
  const auto now = net::AuthFailureLimiter::Clock::now();
  if (ctx_.auth_failures.blocked(conn_->remote_ip(), user, now)) {
    reply(454, "4.7.0", "Too many authentication failures for this user, try again later");
    co_return;
  }
  std::optional<std::string> account = ctx_.accounts.cached_login(user, password);
  if (!account) {
    auto verified = co_await asio::co_spawn(
        ctx_.workers, verify_on_worker(&ctx_.accounts, user, std::move(password)),
        asio::use_awaitable);
    if (verified) {
      account = *verified;
    } else {
      logger()->info("smtp session={} client={} auth failed user={} reason={}", id_,
                     conn_->remote_ip(), printable(user), verified.error().detail);
    }
  }
  if (!account) {
    auth_failed("bad credentials");
    co_return;
  }
  account_ = *account;
  logger()->info("smtp session={} client={} authenticated account={}", id_, conn_->remote_ip(),
                 *account_);
  reply(235, "2.7.0", "Authentication successful");
}

void Session::auth_failed(const char* why) {
  ++auth_failures_;
  ctx_.auth_failures.record_failure(conn_->remote_ip(), auth_user_,
                                    net::AuthFailureLimiter::Clock::now());
  logger()->debug("smtp session={} auth failure {}", id_, why);
  if (auth_failures_ >= ctx_.options.max_auth_failures) {
    reply(535, "5.7.8", "Authentication credentials invalid");
    reply(421, "4.7.0", "Too many authentication failures, closing transmission channel");
    quit_ = true;
    return;
  }
  reply(535, "5.7.8", "Authentication credentials invalid");
}

}  // namespace txmail::smtp
