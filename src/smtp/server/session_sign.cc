// The sender domain policy and DKIM signing of a submitted message (issue core-3, item 2).
//
// The signing domain is the header From's (the envelope sender's when there is no From). An
// account may send only from its own registered, verified domains unless it allows unverified
// ones (a testing aid); then a domain without a key of this account goes out unsigned, and the
// job says so in an event. Keys of another account are never used. Signing runs on the worker
// pool: RSA never stalls an I/O thread. A DKIM-Signature the client put on stays; ours is added
// on top.
#include <fmt/format.h>

#include "common/log.h"
#include "dkim/signature.h"
#include "mime/headers.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

namespace {

std::string domain_of(const std::string& address) {
  const std::size_t at = address.rfind('@');
  std::string d = at == std::string::npos ? std::string() : address.substr(at + 1);
  std::transform(d.begin(), d.end(), d.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return d;
}

}  // namespace

awaitable<bool> Session::sign_message(store::SpoolRecord& record, std::string& note) {
  const auto froms = mime::field_values(mime::header_section(message_), "From");
  if (froms.size() > 1) {
    reply(550, "5.6.0", "Message refused: more than one From header field");
    co_return false;
  }
  std::string domain = froms.empty() ? std::string() : mime::address_domain(froms.front());
  if (domain.empty()) {
    domain = domain_of(record.sender);
  }
  if (ctx_.keyring == nullptr) {
    note = "not DKIM-signed: signing is not configured";
    co_return true;
  }
  const auto account = ctx_.accounts.find(record.account);
  const bool strict = !account || !account->allow_unverified_domains;
  const auto signing = domain.empty() ? nullptr : ctx_.keyring->find(domain);
  const bool owned = signing && signing->account == record.account;
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
  if (!owned || signing->keys.empty()) {
    note = domain.empty()       ? "not DKIM-signed: the message names no sender domain"
           : !signing           ? "not DKIM-signed: sender domain " + domain + " is not registered"
           : !owned             ? "not DKIM-signed: sender domain " + domain
                                      + " belongs to another account"
                                : "not DKIM-signed: sender domain " + domain + " has no usable key";
    co_return true;
  }
  // The message stays put while the coroutine waits: the worker reads it, nothing else does.
  const std::string* message = &record.message;
  auto starter = [this, message,
                  signing](std::function<void(Result<std::string>)> done) {
    asio::post(ctx_.workers, [message, signing, done = std::move(done)] {
      done(dkim::sign(*message, signing->keys));
    });
  };
  auto fields = co_await await_callback<Result<std::string>>(std::move(starter));
  if (!fields) {
    logger()->error("smtp session={} domain={} DKIM signing failed: {}", id_, domain,
                    fields.error().detail);
    note = "not DKIM-signed: signing failed: " + fields.error().detail;
    co_return true;
  }
  record.message.insert(0, *fields);
  co_return true;
}

}  // namespace txmail::smtp
