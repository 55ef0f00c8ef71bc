#include "tenancy/recipient_policy.h"

#include "common/log.h"

namespace txmail::tenancy {

std::optional<RecipientDrop> RecipientPolicy::check(const std::string& account,
                                                    const std::string& address,
                                                    std::int64_t now_ms) const {
  if (simulated_suppressed_ && simulated_suppressed_(account, address)) {
    return RecipientDrop{DropReason::kPreviouslyBounced,
                         "simulated suppression (sandbox): the address is on the list"};
  }
  if (list_ == nullptr) {
    return std::nullopt;
  }
  if (list_->forbidden(address)) {
    return RecipientDrop{DropReason::kForbidden, "role addresses are not sent to"};
  }
  auto s = list_->find(account, address, now_ms);
  if (!s) {
    return std::nullopt;
  }
  // The entry lives on from now; a failed renewal only shortens it.
  auto renew = [list = list_, entry = *s, now_ms] {
    if (auto r = list->renew(entry, now_ms); !r) {
      logger()->warn("suppression renewal of {} failed: {}", entry.address, r.error().detail);
    }
  };
  if (post_) {
    post_(std::move(renew));
  } else {
    renew();
  }
  const DropReason reason =
      s->type == SuppressionType::kComplaint      ? DropReason::kPreviouslyComplained
      : s->type == SuppressionType::kUnsubscribed ? DropReason::kPreviouslyUnsubscribed
                                                  : DropReason::kPreviouslyBounced;
  return RecipientDrop{reason, describe(*s)};
}

}  // namespace txmail::tenancy
