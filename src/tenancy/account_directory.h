// AccountDirectory: an in-memory snapshot of every account, loaded from the config store and
// kept current by a watch, so that lookups on I/O threads never touch the disk.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "store/config_store.h"
#include "tenancy/account.h"

namespace txmail::tenancy {

class AccountDirectory {
 public:
  static Result<std::unique_ptr<AccountDirectory>> load(store::ConfigStore& store);
  ~AccountDirectory();
  AccountDirectory(const AccountDirectory&) = delete;
  AccountDirectory& operator=(const AccountDirectory&) = delete;
  AccountDirectory(AccountDirectory&&) = delete;
  AccountDirectory& operator=(AccountDirectory&&) = delete;

  std::optional<Account> find(const std::string& name) const;
  // The enabled account whose allow_ips holds `ip`, if any (relay without AUTH).
  std::optional<std::string> account_for_ip(const std::string& ip) const;

  // Changes on every account change; caches of verified credentials compare it.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  std::size_t size() const;

 private:
  explicit AccountDirectory(store::ConfigStore& store) : store_(store) {}

  void apply(const store::ConfigChange& change);

  store::ConfigStore& store_;
  std::uint64_t watch_id_ = 0;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Account> accounts_;
  std::atomic<std::uint64_t> generation_{1};
};

// Declares an account from the config file: created if missing, its password hash replaced
// only if the password changed (so restarts keep the stored hash); the settings of `declared`
// (allow_ips, pool, ...) replace the stored ones; its password_hash is ignored.
Result<void> bootstrap_account(store::ConfigStore& store, const Account& declared,
                               const std::string& password);

}  // namespace txmail::tenancy
