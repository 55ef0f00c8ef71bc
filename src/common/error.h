// Error codes shared by every module, and their one classification (STYLE.md "Errors"):
// transient or permanent, and the scope a failure applies to. error.cc holds the exhaustive
// switch; adding a code without classifying it fails the build (-Wswitch-enum, no default).
#pragma once

#include <string_view>

namespace txmail {

enum class ErrorCode {
  kInternal,         // a bug or an impossible state
  kInvalidArgument,  // bad input from a client or an operator
  kConfig,           // invalid configuration
  kNotFound,
  kConflict,      // compare-and-set lost, duplicate
  kTooLarge,      // over a configured limit
  kIo,            // disk or file system
  kCorrupt,       // stored data fails to decode
  kNetwork,       // connection refused, reset, unreachable
  kTimeout,       // a deadline expired
  kUnavailable,   // shutting down, overloaded
  kAuthFailed,    // bad credentials
  kPermission,    // authenticated but not allowed
  kDnsTemporary,  // SERVFAIL, timeout, unreachable resolver: try again later
};

enum class Persistence { kTransient, kPermanent };

// What a failure applies to: the whole connection, every destination of a site, one message,
// or one recipient. Storage and configuration failures are node-wide.
enum class Scope { kNode, kConnection, kDestinationSite, kMessage, kRecipient };

struct Classification {
  Persistence persistence;
  Scope scope;
};

Classification classify(ErrorCode code);
std::string_view to_string(ErrorCode code);

}  // namespace txmail
