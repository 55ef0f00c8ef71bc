// TenancyAccounts: SMTP intake's view of the accounts (smtp::Accounts), answered by tenancy:
// the account directory and its allow_ips, the authenticator and its cache, the per-account
// hourly limit shared with REST, the sender domain policy with the DKIM keyring, and the
// recipient policy. smtp/server sits a layer below tenancy (DESIGN.md section 3), so this
// adapter lives in the composition root; it adds no rule of its own.
#pragma once

#include <cstdint>

#include "smtp/server/accounts.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/dkim_keyring.h"
#include "tenancy/rate_limiter.h"
#include "tenancy/recipient_policy.h"

namespace txmail::app {

struct TenancyAccountsDeps {
  const tenancy::AccountDirectory& directory;
  tenancy::Authenticator& authenticator;
  const tenancy::DkimKeyring* keyring = nullptr;         // null: nothing is signed
  tenancy::RequestLimiter* limiter = nullptr;            // null: no hourly limit
  std::int64_t default_hourly_limit = 0;                 // for accounts without their own
  const tenancy::RecipientPolicy* recipients = nullptr;  // null: every recipient is delivered
};

class TenancyAccounts final : public smtp::Accounts {
 public:
  explicit TenancyAccounts(TenancyAccountsDeps deps) : d_(deps) {}

  std::optional<std::string> account_for_ip(const std::string& ip) const override;
  std::optional<std::string> cached_login(const std::string& user,
                                          const std::string& password) override;
  Result<std::string> verify_login(const std::string& user, const std::string& password) override;
  smtp::RateToken take_rate_token(const std::string& account) override;
  smtp::SigningDecision decide_signing(const std::string& account,
                                       const std::string& domain) const override;
  std::optional<smtp::RecipientDrop> recipient_drop(const std::string& account,
                                                    const std::string& address) override;

 private:
  TenancyAccountsDeps d_;
};

// The DROPPED reason SMTP reported, as tenancy (and the event model) names it.
tenancy::DropReason tenancy_drop_reason(smtp::DropReason reason);

}  // namespace txmail::app
