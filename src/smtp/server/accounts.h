// What SMTP intake asks of the accounts: who a client is (its address, its credentials), whether
// one more message fits its hourly limit, how a message from a sender domain is signed, and
// why a recipient is dropped. Accounts, credentials, limits and sender domains live in tenancy,
// a layer above (DESIGN.md section 3): the composition root (app/serve.cc) adapts them to
// this interface, so smtp/server never includes tenancy. The same rules serve REST intake.
//
// Every call is safe on any thread and touches memory only, except verify_login() (the slow
// password hash: the worker pool).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "dkim/signature.h"

namespace txmail::smtp {

// The sender domain policy's answer for one message (tenancy::decide_signing).
struct SigningDecision {
  enum class Kind {
    kSign,         // sign with `keys`
    kUnsigned,     // send unsigned; `text` says why (reported with the job)
    kRefused,      // permanent: `text` is the reason (550 5.7.1)
    kUnavailable,  // temporary: the domain's keys cannot be used now (451)
  };
  Kind kind = Kind::kUnsigned;
  std::shared_ptr<const std::vector<dkim::SigningKey>> keys;  // kSign only
  std::string text;
};

// One message against the account's hourly limit.
struct RateToken {
  std::int64_t wait_s = 0;  // 0: taken, the message may go ahead; else seconds to the next window
  std::int64_t hourly = 0;  // the account's limit, for the reply
};

// Why the intake policy drops an accepted job's recipient: each reason is a DROPPED event.
enum class DropReason {
  kInvalidAddress,
  kValidationError,
  kForbidden,
  kPreviouslyBounced,
  kPreviouslyComplained,
  kPreviouslyUnsubscribed,
};

struct RecipientDrop {
  DropReason reason;
  std::string detail;  // for the DROPPED event
};

class Accounts {
 public:
  Accounts() = default;
  virtual ~Accounts() = default;
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;
  Accounts(Accounts&&) = delete;
  Accounts& operator=(Accounts&&) = delete;

  // The enabled account whose allow_ips hold `ip` (relay without AUTH), if any.
  virtual std::optional<std::string> account_for_ip(const std::string& ip) const = 0;
  // The account a recent successful verification of these credentials named, if any. Cheap.
  virtual std::optional<std::string> cached_login(const std::string& user,
                                                  const std::string& password) = 0;
  // The account these credentials name, checked with the slow hash: call it on the worker pool.
  virtual Result<std::string> verify_login(const std::string& user,
                                           const std::string& password) = 0;
  // Counts one message of `account` against its hourly limit (shared with REST).
  virtual RateToken take_rate_token(const std::string& account) = 0;
  // May `account` send from sender `domain` ("" when the message names none), and how is it
  // signed?
  virtual SigningDecision decide_signing(const std::string& account,
                                         const std::string& domain) const = 0;
  // Why a recipient of `account` is dropped at intake, or nullopt to deliver it.
  virtual std::optional<RecipientDrop> recipient_drop(const std::string& account,
                                                      const std::string& address) = 0;
};

}  // namespace txmail::smtp
