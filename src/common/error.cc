#include "common/error.h"

namespace txmail {

Classification classify(ErrorCode code) {
  using enum Persistence;
  using enum Scope;
  switch (code) {
    case ErrorCode::kInternal:
      return {kTransient, kNode};
    case ErrorCode::kInvalidArgument:
      return {kPermanent, kMessage};
    case ErrorCode::kConfig:
      return {kPermanent, kNode};
    case ErrorCode::kNotFound:
      return {kPermanent, kRecipient};
    case ErrorCode::kConflict:
      return {kTransient, kMessage};
    case ErrorCode::kTooLarge:
      return {kPermanent, kMessage};
    case ErrorCode::kIo:
      return {kTransient, kNode};
    case ErrorCode::kCorrupt:
      return {kPermanent, kMessage};
    case ErrorCode::kNetwork:
    case ErrorCode::kTimeout:
      return {kTransient, kConnection};
    case ErrorCode::kUnavailable:
      return {kTransient, kNode};
    case ErrorCode::kAuthFailed:
      return {kPermanent, kConnection};
    case ErrorCode::kPermission:
      return {kPermanent, kMessage};
    case ErrorCode::kDnsTemporary:
      return {kTransient, kDestinationSite};
  }
  return {kTransient, kNode};
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kConfig:
      return "config";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kTooLarge:
      return "too-large";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kNetwork:
      return "network";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kAuthFailed:
      return "auth-failed";
    case ErrorCode::kPermission:
      return "permission";
    case ErrorCode::kDnsTemporary:
      return "dns-temporary";
  }
  return "unknown";
}

}  // namespace txmail
