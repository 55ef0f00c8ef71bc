// Why a recipient of an accepted job is dropped at intake (tenancy::RecipientPolicy, and the
// REST job reader's own checks), named as the service txmail is modelled on names it (the
// DROPPED event's subType). Header only: the pure request readers use it too.
#pragma once

#include <string_view>

namespace txmail::tenancy {

enum class DropReason {
  kInvalidAddress,
  kValidationError,
  kForbidden,
  kPreviouslyBounced,
  kPreviouslyComplained,    // suppressed after a complaint (an ARF feedback report)
  kPreviouslyUnsubscribed,  // suppressed after a one-click (or mailto) unsubscribe
};

// "INVALID_ADDRESS", "VALIDATION_ERROR", "FORBIDDEN_RECIPIENT", "PREVIOUSLY_BOUNCED",
// "PREVIOUSLY_COMPLAINED", "PREVIOUSLY_UNSUBSCRIBED".
constexpr std::string_view drop_sub_type(DropReason reason) {
  switch (reason) {
    case DropReason::kInvalidAddress:
      return "INVALID_ADDRESS";
    case DropReason::kValidationError:
      return "VALIDATION_ERROR";
    case DropReason::kForbidden:
      return "FORBIDDEN_RECIPIENT";
    case DropReason::kPreviouslyBounced:
      return "PREVIOUSLY_BOUNCED";
    case DropReason::kPreviouslyComplained:
      return "PREVIOUSLY_COMPLAINED";
    case DropReason::kPreviouslyUnsubscribed:
      return "PREVIOUSLY_UNSUBSCRIBED";
  }
  return "VALIDATION_ERROR";
}

}  // namespace txmail::tenancy
