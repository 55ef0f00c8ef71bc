// Authenticator: checks SMTP (and later API) credentials against the account directory.
//
// Applications often authenticate on every connection, and the password hash is slow on
// purpose. Successful verifications are cached for a short time, keyed by an HMAC of the
// credentials under a per-process random key (never the password itself, and useless outside
// this process); an account change invalidates the cache. cached() is cheap and safe on I/O
// threads; verify() runs the slow hash and belongs on the worker pool.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/result.h"
#include "tenancy/account_directory.h"

namespace txmail::tenancy {

class Authenticator {
 public:
  using Clock = std::chrono::steady_clock;

  Authenticator(const AccountDirectory& directory, Clock::duration ttl);

  std::optional<std::string> cached(const std::string& user, const std::string& password);
  Result<std::string> verify(const std::string& user, const std::string& password);

 private:
  struct Entry {
    std::string account;
    Clock::time_point expires;
    std::uint64_t generation = 0;
  };

  std::string cache_key(const std::string& user, const std::string& password) const;

  const AccountDirectory& directory_;
  Clock::duration ttl_;
  std::string secret_;
  std::string dummy_hash_;  // verified for unknown users, so timing does not reveal names
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace txmail::tenancy
