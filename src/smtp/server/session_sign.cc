// The sender domain policy and DKIM signing of a submitted message (issue core-3, item 2).
//
// The signing domain is the header From's (the envelope sender's when there is no From). An
// account may send only from its own registered, verified domains unless it allows unverified
// ones (a testing aid); then a domain that is not its own goes out unsigned, and the job says
// so in an event. Keys of another account are never used. A domain of its own whose keys
// cannot be used (or a failed signature) is a temporary failure: never sent unsigned instead.
// Signing runs on the worker pool: RSA never stalls an I/O thread. A DKIM-Signature the client
// put on stays; ours is added on top.
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
  if (ctx_.keyring == nullptr) {
    note = "not DKIM-signed: signing is not configured";
    co_return true;
  }
  const auto signing = domain.empty() ? nullptr : ctx_.keyring->find(domain);
  const bool owned = signing && signing->account == record.account;
  // The account's settings matter only when its own verified domain is not what it sends from.
  bool strict = true;
  if (!owned || !signing->verified) {
    const auto account = ctx_.accounts.find(record.account);
    strict = !account || !account->allow_unverified_domains;
  }
  if (strict && !owned) {
    reply(550, "5.7.1",
          fmt::format("Sender domain {} is not registered for this account",
                      domain.empty() ? "(none)" : printable(domain))
              .c_str());
    co_return false;
  }
  if (strict && !signing->verified) {
    reply(550, "5.7.1",
          fmt::format("Sender domain {} is not verified yet: publish its DNS records, then "
                      "run txmail domain verify",
                      domain)
              .c_str());
    co_return false;
  }
  if (!owned) {
    // The domain comes from the client: printable() before it goes into an event.
    note = domain.empty() ? "not DKIM-signed: the message names no sender domain"
           : !signing
               ? "not DKIM-signed: sender domain " + printable(domain) + " is not registered"
               : "not DKIM-signed: sender domain " + domain + " belongs to another account";
    co_return true;
  }
  if (signing->keys.empty()) {
    // Its keys exist but cannot be used here (a wrong master key, say): mail that should be
    // signed is not sent unsigned. The client retries; the node's log says why.
    logger()->error("smtp session={} domain={} has no usable DKIM key (see the keyring errors)",
                    id_, domain);
    reply(451, "4.3.0", "Signing is unavailable for this sender domain, try again later");
    co_return false;
  }
  // The message stays put while the coroutine waits: the worker reads it, nothing else does.
  const std::string* message = &record.message;
  auto starter = [this, message, signing](std::function<void(Result<std::string>)> done) {
    asio::post(ctx_.workers, [message, signing, done = std::move(done)] {
      done(dkim::sign(*message, signing->keys));
    });
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
