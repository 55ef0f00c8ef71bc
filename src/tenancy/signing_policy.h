// The sender domain policy (issue core-3, item 2), shared by SMTP and REST intake: may this
// account send from this domain, and is the message signed?
//
// An account may send only from its own registered, verified domains unless it allows
// unverified ones (a testing aid); then a domain that is not its own goes out unsigned, and
// the job says so in an event, except a domain another account has verified: that one is
// refused to every other account, whatever its settings. Keys of another account are never used. A
// domain of its own whose keys cannot be used is a temporary failure: never sent unsigned instead.
#pragma once

#include <memory>
#include <string>

#include "tenancy/account_directory.h"
#include "tenancy/dkim_keyring.h"

namespace txmail::tenancy {

struct SigningDecision {
  enum class Kind {
    kSign,         // sign with `signing`
    kUnsigned,     // send unsigned; `text` says why (for the PROCESSED event)
    kRefused,      // permanent: `text` is the reason (SMTP 550 5.7.1, REST 403/422)
    kUnavailable,  // temporary: the domain's keys cannot be used now (SMTP 451, REST 503)
  };
  Kind kind = Kind::kUnsigned;
  std::shared_ptr<const DomainSigning> signing;
  std::string text;
};

// keyring null: signing is not configured (everything unsigned). `given` (the sender domain,
// as a U-label or an A-label) may be "" (the message names no sender domain); it is
// printable()-safe in `text`, which names the A-label.
SigningDecision decide_signing(const DkimKeyring* keyring, const AccountDirectory& accounts,
                               const std::string& account, const std::string& given);

}  // namespace txmail::tenancy
