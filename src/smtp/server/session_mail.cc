// MAIL FROM and RCPT TO (RFC 5321 sections 4.1.1.2 and 4.1.1.3), with the policy that keeps
// txmail from ever being an open relay: every recipient is remote, so a recipient is accepted
// only from an authenticated client, or on a relay listener from an address an account lists
// in allow_ips. Submission listeners require AUTH before MAIL.
#include <fmt/format.h>

#include <limits>

#include "common/duration.h"
#include "common/idna.h"
#include "common/ids.h"
#include "common/log.h"
#include "smtp/server/session.h"
#include "store/spool_record.h"

namespace txmail::smtp {

namespace {

// A domain that is not a valid IDN (UTS #46) could never be looked up: refused here, while the
// client can still be told, never accepted and lost at delivery.
bool valid_idn(const Mailbox& box) {
  return box.is_null() || idna::to_ascii(box.domain).has_value();
}

// What a job's data (cluster mode: store::SpoolRecord::job_data) takes at most when its control
// fields are at their limits and need no escapes in JSON: its sealed endpoint (URL 1000, headers
// 1000, user and password 256 each), header From address and references.
constexpr std::size_t kJobDataRoom = 8192;

}  // namespace

bool Session::may_relay() const {
  if (account_) {
    return true;
  }
  return listener_.mode == ListenerMode::kRelay && ip_account_.has_value();
}

awaitable<void> Session::inflow_wait() {
  if (!ctx_.delivery_backlog || ctx_.options.inflow_delay.count() <= 0) {
    co_return;
  }
  // The session's own account only: another account's backlog (a flood to a slow
  // destination) must not slow this one's intake.
  const std::string account = account_.value_or(ip_account_.value_or(""));
  const auto deadline = std::chrono::steady_clock::now() + ctx_.options.inflow_delay;
  while (ctx_.delivery_backlog(account) > ctx_.options.inflow_backlog
         && std::chrono::steady_clock::now() < deadline) {
    asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
    co_await pause.async_wait(use_tuple);
  }
}

void Session::on_mail(Command cmd) {
  if (phase_ == Phase::kConnected) {
    reply(503, "5.5.1", "Send EHLO or HELO first");
    return;
  }
  if (phase_ != Phase::kGreeted) {
    reply(503, "5.5.1", "Nested MAIL command");
    return;
  }
  if (listener_.mode != ListenerMode::kRelay && listener_.mode != ListenerMode::kInbound
      && !account_) {
    reply(530, "5.7.0", "Authentication required");
    return;
  }
  if (cmd.size && *cmd.size > ctx_.options.max_message_size) {
    reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    return;
  }
  if (cmd.path.utf8 && !cmd.smtputf8) {
    reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    return;
  }
  if (!valid_idn(cmd.path)) {
    reply(553, "5.1.7", "Sender domain is not a valid internationalized domain name");
    return;
  }
  if (!esmtp_ && (cmd.smtputf8 || cmd.size || cmd.body != BodyType::k7Bit)) {
    reply(555, "5.5.4", "MAIL parameters need EHLO");
    return;
  }
  if (auto why = ctx_.refuse_intake ? ctx_.refuse_intake() : std::nullopt) {
    logger()->info("smtp session={} MAIL refused: {}", id_, *why);
    reply(451, "4.3.0", "Service temporarily unavailable, try again later");
    return;
  }
  // The account's hourly limit, shared with the REST API: one message, one request.
  const std::optional<std::string>& account = account_ ? account_ : ip_account_;
  if (account && (account_ || listener_.mode == ListenerMode::kRelay)) {
    if (const RateToken token = ctx_.accounts.take_rate_token(*account); token.wait_s > 0) {
      logger()->info("smtp session={} account={} rate limited for {} s", id_, *account,
                     token.wait_s);
      reply(451, "4.7.1",
            fmt::format("Rate limit of {} messages an hour reached, try again in {} seconds",
                        token.hourly, token.wait_s)
                .c_str());
      return;
    }
  }
  envelope_ = Envelope{};
  envelope_.sender = std::move(cmd.path);
  envelope_.body = cmd.body;
  envelope_.smtputf8 = cmd.smtputf8;
  envelope_.declared_size = cmd.size;
  phase_ = Phase::kMail;
  reply(250, "2.1.0", "Ok");
}

bool Session::head_has_room(const Mailbox& recipient) {
  const auto limit = ctx_.spool.head_limit();
  if (!limit) {
    return true;
  }
  // What session_data.cc will store, at its longest: a job id, the mail ids made of it, the
  // account and the time (the flags and the times take their widest varints).
  const std::string job_id(kJobIdSize, '0');
  if (envelope_.head_bytes == 0) {
    store::SpoolRecord head;
    head.job_id = job_id;
    head.account = account_ ? *account_ : ip_account_.value_or("");
    head.sender = envelope_.sender.address();
    head.received_ms = std::numeric_limits<std::int64_t>::max();
    head.flags = std::numeric_limits<std::uint32_t>::max();
    envelope_.head_bytes = store::encoded_head_size(head);
    envelope_.head_bytes += 2;  // the recipient count's varint grows to up to three bytes
    if (ctx_.job_data) {
      // Cluster mode: the job's data (its control fields' endpoint, sealed, and references)
      // goes into the record too. Room for the longest the fields' limits allow without
      // escapes; a message whose fields escape to more may still be refused at its end (552).
      envelope_.head_bytes += kJobDataRoom;
    }
  }
  store::SpoolRecipient rcpt;
  rcpt.address = recipient.address();
  rcpt.mail_id = mail_id(job_id, 0, 0);
  rcpt.next_attempt_ms = std::numeric_limits<std::int64_t>::max();
  const std::size_t more = store::encoded_size(rcpt);
  if (envelope_.head_bytes + more > *limit) {
    return false;
  }
  envelope_.head_bytes += more;
  return true;
}

void Session::on_rcpt(Command cmd) {
  if (phase_ != Phase::kMail && phase_ != Phase::kRcpt) {
    reply(503, "5.5.1", "Need MAIL before RCPT");
    return;
  }
  if (listener_.mode == ListenerMode::kInbound) {
    // Only the return paths this node made; never a relay, never a bounce of a bounce.
    if (!ctx_.inbound_recipient || !ctx_.inbound_recipient(cmd.path.address())) {
      logger()->info("smtp session={} client={} inbound: no such recipient rcpt=<{}>", id_,
                     conn_->remote_ip(), printable(cmd.path.address()));
      reply(550, "5.1.1", "No such recipient here");
      return;
    }
  } else if (!may_relay()) {
    logger()->info("smtp session={} client={} relay denied rcpt=<{}>", id_, conn_->remote_ip(),
                   printable(cmd.path.address()));
    reply(554, "5.7.1", "Relay access denied");
    return;
  }
  if (cmd.path.utf8 && !envelope_.smtputf8) {
    reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    return;
  }
  if (!valid_idn(cmd.path)) {
    reply(553, "5.1.3", "Recipient domain is not a valid internationalized domain name");
    return;
  }
  if (envelope_.recipients.size() >= ctx_.options.max_recipients) {
    reply(452, "4.5.3", "Too many recipients");
    return;
  }
  if (listener_.mode != ListenerMode::kInbound && !head_has_room(cmd.path)) {
    // The client sends the rest in another transaction (RFC 5321 section 4.5.3.1.10).
    reply(452, "4.5.3", "Too many recipients for one message here; send the rest in another");
    return;
  }
  envelope_.recipients.push_back(std::move(cmd.path));
  phase_ = Phase::kRcpt;
  reply(250, "2.1.5", "Ok");
}

}  // namespace txmail::smtp
