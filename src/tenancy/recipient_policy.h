// RecipientPolicy: which recipients of an accepted job are dropped at intake, and why (issue
// quality-1, defect 6): the one rule SMTP and REST share. A role address (abuse@, postmaster@,
// ...) is FORBIDDEN_RECIPIENT; an address on the account's suppression list is
// PREVIOUSLY_BOUNCED (PREVIOUSLY_COMPLAINED when a complaint put it there,
// PREVIOUSLY_UNSUBSCRIBED when an unsubscribe did), and its entry lives
// on from now (renewed off the caller's thread).
// REST adds the drops only it can see (INVALID_ADDRESS, VALIDATION_ERROR); every reason is one
// enum, named as the service txmail is modelled on names it (DROPPED subType).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tenancy/drop_reason.h"
#include "tenancy/suppression.h"

namespace txmail::tenancy {

struct RecipientDrop {
  DropReason reason;
  std::string detail;  // for the DROPPED event and the API's answer
};

class RecipientPolicy {
 public:
  // Where renewals (store writes) run; null: on the caller's thread.
  using Post = std::function<void(std::function<void()>)>;

  // Sandbox accounts' simulator (queue/sandbox.h): true when `address` is the simulator's
  // suppressed address and `account` a sandbox account. Null: there is none.
  using Simulated = std::function<bool(const std::string& account, const std::string& address)>;

  RecipientPolicy(SuppressionList* list, Post post, Simulated suppressed = nullptr)
      : list_(list), post_(std::move(post)), simulated_suppressed_(std::move(suppressed)) {}

  // nullopt: the recipient is delivered. Memory only, apart from the posted renewal; any thread.
  std::optional<RecipientDrop> check(const std::string& account, const std::string& address,
                                     std::int64_t now_ms) const;

 private:
  SuppressionList* list_;  // null: nothing is suppressed or forbidden
  Post post_;
  Simulated simulated_suppressed_;
};

}  // namespace txmail::tenancy
