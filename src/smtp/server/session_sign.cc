// The sender domain policy and DKIM signing of a submitted message (issue core-3, item 2).
//
// The signing domain is the header From's (the envelope sender's when there is no From); the
// policy is Accounts::decide_signing (tenancy's, shared with REST intake). A failed signature
// is a temporary failure: never sent unsigned instead. Signing runs on the worker pool: RSA
// never stalls an I/O thread. A DKIM-Signature the client put on stays; ours is added on top.
#include <fmt/format.h>

#include "common/log.h"
#include "dkim/signature.h"
#include "mime/headers.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

awaitable<bool> Session::sign_message(store::SpoolRecord& record, std::string& note) {
  const auto froms = mime::field_values(mime::header_section(message_), "From");
  if (froms.size() > 1) {
    reply(550, "5.6.0", "Message refused: more than one From header field");
    co_return false;
  }
  std::string domain = froms.empty() ? std::string() : mime::address_domain(froms.front());
  if (domain.empty()) {
    domain = mime::address_domain(record.sender);
  }
  const SigningDecision decision = ctx_.accounts.decide_signing(record.account, domain);
  switch (decision.kind) {
    case SigningDecision::Kind::kRefused:
      reply(550, "5.7.1", decision.text.c_str());
      co_return false;
    case SigningDecision::Kind::kUnsigned:
      note = decision.text;
      co_return true;
    case SigningDecision::Kind::kUnavailable:
      // Its keys exist but cannot be used here (a wrong master key, say): mail that should be
      // signed is not sent unsigned. The client retries; the node's log says why.
      logger()->error("smtp session={} domain={} has no usable DKIM key (see the keyring errors)",
                      id_, domain);
      reply(451, "4.3.0", "Signing is unavailable for this sender domain, try again later");
      co_return false;
    case SigningDecision::Kind::kSign:
      break;
  }
  const auto& keys = decision.keys;
  // The message stays put while the coroutine waits: the worker reads it, nothing else does.
  const std::string* message = &record.message;
  auto starter = [this, message, keys](std::function<void(Result<std::string>)> done) {
    asio::post(ctx_.workers,
               [message, keys, done = std::move(done)] { done(dkim::sign(*message, *keys)); });
  };
  auto fields = co_await await_callback<Result<std::string>>(std::move(starter));
  if (!fields) {
    logger()->error("smtp session={} domain={} DKIM signing failed: {}", id_, domain,
                    fields.error().detail);
    reply(451, "4.3.0", "Signing failed, try again later");
    co_return false;
  }
  record.message.insert(0, *fields);
  co_return true;
}

}  // namespace txmail::smtp
