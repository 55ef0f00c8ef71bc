// STARTTLS (RFC 3207) and implicit TLS on port 465 (RFC 8314).
#include "common/log.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

awaitable<void> Session::on_starttls() {
  if (!ctx_.tls) {
    reply(454, "4.7.0", "TLS not available");
    co_return;
  }
  if (conn_->tls()) {
    reply(503, "5.5.1", "TLS already active");
    co_return;
  }
  if (phase_ == Phase::kMail || phase_ == Phase::kRcpt) {
    reply(503, "5.5.1", "STARTTLS not allowed during a mail transaction");
    co_return;
  }
  // Anything the client pipelined after STARTTLS was sent in clear text and must not be
  // taken as if it came over TLS (the CVE-2011-0411 class of injection): discard it.
  consume(buffered().size());
  reply(220, "2.0.0", "Ready to start TLS");
  if (!co_await flush()) {
    quit_ = true;
    co_return;
  }
  auto r = co_await conn_->handshake_server(ctx_.options.tls_handshake_timeout);
  if (!r) {
    logger()->info("smtp session={} client={} tls handshake failed: {}", id_, conn_->remote_ip(),
                   r.error().detail);
    quit_ = true;
    co_return;
  }
  // RFC 3207 section 4.2: forget everything learned before TLS.
  reset_transaction();
  phase_ = Phase::kConnected;
  helo_.clear();
  esmtp_ = false;
  account_.reset();
}

awaitable<bool> Session::start_implicit_tls() {
  if (!ctx_.tls) {
    co_return false;
  }
  auto r = co_await conn_->handshake_server(ctx_.options.tls_handshake_timeout);
  if (!r) {
    logger()->info("smtp session={} client={} tls handshake failed: {}", id_, conn_->remote_ip(),
                   r.error().detail);
    co_return false;
  }
  co_return true;
}

}  // namespace txmail::smtp
