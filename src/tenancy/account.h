// Accounts: who may submit mail. Stored in the config store under "account/<name>" as JSON.
// Credentials are kept only as PBKDF2 hashes (password_hash.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "net/cidr.h"

namespace txmail::tenancy {

struct Account {
  std::string name;
  std::string password_hash;         // SMTP AUTH / API Basic password
  std::vector<net::Cidr> allow_ips;  // may relay without AUTH from these addresses
  std::string pool;                  // egress pool; empty: "default"
  bool disabled = false;
  // Testing aid: send from sender domains that are not registered and verified for this
  // account (signed when a key exists, unsigned otherwise). Off by default.
  bool allow_unverified_domains = false;
  // Sandbox (issue console-1, item 3): mail is accepted, signed and composed as usual and its
  // events say delivered, but delivery puts it in the node's capture store instead of sending
  // it (queue/sandbox.h; simulator recipients give the other outcomes).
  bool sandbox = false;
  // One-click unsubscribe (issue bounce-1, item 5): REST jobs get List-Unsubscribe links that
  // txmail hosts ([bounces] unsubscribe_url; api/unsubscribe.h). Off by default.
  bool unsubscribe = false;
  // REST API callers must come from these addresses, when any are set (credentials alone are
  // not enough).
  std::vector<net::Cidr> api_allow_ips;
  // Requests (REST jobs and SMTP messages) per hour; -1: the node's default, 0: no limit.
  std::int64_t hourly_limit = -1;
  std::int64_t created_ms = 0;
};

std::string account_key(std::string_view name);
std::string to_json(const Account& account);
Result<Account> account_from_json(std::string_view text);
bool valid_account_name(std::string_view name);

}  // namespace txmail::tenancy
