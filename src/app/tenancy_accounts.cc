#include "app/tenancy_accounts.h"

#include "common/duration.h"
#include "tenancy/signing_policy.h"

namespace txmail::app {

namespace {

smtp::DropReason smtp_drop_reason(tenancy::DropReason reason) {
  switch (reason) {
    case tenancy::DropReason::kInvalidAddress:
      return smtp::DropReason::kInvalidAddress;
    case tenancy::DropReason::kValidationError:
      return smtp::DropReason::kValidationError;
    case tenancy::DropReason::kForbidden:
      return smtp::DropReason::kForbidden;
    case tenancy::DropReason::kPreviouslyBounced:
      return smtp::DropReason::kPreviouslyBounced;
    case tenancy::DropReason::kPreviouslyComplained:
      return smtp::DropReason::kPreviouslyComplained;
    case tenancy::DropReason::kPreviouslyUnsubscribed:
      return smtp::DropReason::kPreviouslyUnsubscribed;
  }
  return smtp::DropReason::kValidationError;
}

smtp::SigningDecision::Kind smtp_signing_kind(tenancy::SigningDecision::Kind kind) {
  using K = smtp::SigningDecision::Kind;
  switch (kind) {
    case tenancy::SigningDecision::Kind::kSign:
      return K::kSign;
    case tenancy::SigningDecision::Kind::kUnsigned:
      return K::kUnsigned;
    case tenancy::SigningDecision::Kind::kRefused:
      return K::kRefused;
    case tenancy::SigningDecision::Kind::kUnavailable:
      return K::kUnavailable;
  }
  return K::kRefused;
}

}  // namespace

tenancy::DropReason tenancy_drop_reason(smtp::DropReason reason) {
  switch (reason) {
    case smtp::DropReason::kInvalidAddress:
      return tenancy::DropReason::kInvalidAddress;
    case smtp::DropReason::kValidationError:
      return tenancy::DropReason::kValidationError;
    case smtp::DropReason::kForbidden:
      return tenancy::DropReason::kForbidden;
    case smtp::DropReason::kPreviouslyBounced:
      return tenancy::DropReason::kPreviouslyBounced;
    case smtp::DropReason::kPreviouslyComplained:
      return tenancy::DropReason::kPreviouslyComplained;
    case smtp::DropReason::kPreviouslyUnsubscribed:
      return tenancy::DropReason::kPreviouslyUnsubscribed;
  }
  return tenancy::DropReason::kValidationError;
}

std::optional<std::string> TenancyAccounts::account_for_ip(const std::string& ip) const {
  return d_.directory.account_for_ip(ip);
}

std::optional<std::string> TenancyAccounts::cached_login(const std::string& user,
                                                         const std::string& password) {
  return d_.authenticator.cached(user, password);
}

Result<std::string> TenancyAccounts::verify_login(const std::string& user,
                                                  const std::string& password) {
  return d_.authenticator.verify(user, password);
}

smtp::RateToken TenancyAccounts::take_rate_token(const std::string& account) {
  if (d_.limiter == nullptr) {
    return {};
  }
  const auto a = d_.directory.find(account);
  const std::int64_t hourly = a && a->hourly_limit >= 0 ? a->hourly_limit : d_.default_hourly_limit;
  return {d_.limiter->acquire(account, hourly, now_ms()), hourly};
}

smtp::SigningDecision TenancyAccounts::decide_signing(const std::string& account,
                                                      const std::string& domain) const {
  auto decision = tenancy::decide_signing(d_.keyring, d_.directory, account, domain);
  smtp::SigningDecision out{smtp_signing_kind(decision.kind), nullptr, std::move(decision.text)};
  if (decision.signing) {
    // The keys stay owned by the domain's signing state (a rotation replaces it, not them).
    out.keys = std::shared_ptr<const std::vector<dkim::SigningKey>>(decision.signing,
                                                                    &decision.signing->keys);
  }
  return out;
}

std::optional<smtp::RecipientDrop> TenancyAccounts::recipient_drop(const std::string& account,
                                                                   const std::string& address) {
  if (d_.recipients == nullptr) {
    return std::nullopt;
  }
  auto drop = d_.recipients->check(account, address, now_ms());
  if (!drop) {
    return std::nullopt;
  }
  return smtp::RecipientDrop{smtp_drop_reason(drop->reason), std::move(drop->detail)};
}

}  // namespace txmail::app
