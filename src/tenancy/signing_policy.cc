#include "tenancy/signing_policy.h"

#include "common/idna.h"
#include "common/log.h"

namespace txmail::tenancy {

SigningDecision decide_signing(const DkimKeyring* keyring, const AccountDirectory& accounts,
                               const std::string& account, const std::string& given) {
  using K = SigningDecision::Kind;
  // The keyring holds A-labels: a From of info@bücher.example names xn--bcher-kva.example.
  const std::string domain = given.empty() ? given : idna::to_ascii(given).value_or(given);
  if (keyring == nullptr) {
    return {K::kUnsigned, nullptr, "not DKIM-signed: signing is not configured"};
  }
  auto signing = domain.empty() ? nullptr : keyring->find(domain);
  const bool owned = signing && signing->account == account;
  // A domain another account has proved it owns is that account's alone: no setting of this
  // one lets it send from it, even unsigned (issue harden-1, tenant isolation).
  if (signing && !owned && signing->verified) {
    return {K::kRefused, nullptr,
            "Sender domain " + domain + " is verified by another account: it cannot send from it"};
  }
  // The account's settings matter only when its own verified domain is not what it sends from.
  bool strict = true;
  if (!owned || !signing->verified) {
    const auto a = accounts.find(account);
    strict = !a || !a->allow_unverified_domains;
  }
  if (strict && !owned) {
    return {K::kRefused, nullptr,
            "Sender domain " + (domain.empty() ? std::string("(none)") : printable(domain))
                + " is not registered for this account"};
  }
  if (strict && !signing->verified) {
    return {K::kRefused, nullptr,
            "Sender domain " + domain
                + " is not verified yet: publish its DNS records, then run txmail domain verify"};
  }
  if (!owned) {
    return {K::kUnsigned, nullptr,
            domain.empty() ? "not DKIM-signed: the message names no sender domain"
            : !signing
                ? "not DKIM-signed: sender domain " + printable(domain) + " is not registered"
                : "not DKIM-signed: sender domain " + domain + " belongs to another account"};
  }
  if (signing->keys.empty()) {
    return {K::kUnavailable, nullptr, "no usable DKIM key for " + domain};
  }
  return {K::kSign, std::move(signing), {}};
}

}  // namespace txmail::tenancy
