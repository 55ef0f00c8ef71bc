#include "tenancy/account_directory.h"

#include <mutex>

#include "common/duration.h"
#include "common/log.h"
#include "tenancy/password_hash.h"

namespace txmail::tenancy {

Result<std::unique_ptr<AccountDirectory>> AccountDirectory::load(store::ConfigStore& store) {
  std::unique_ptr<AccountDirectory> dir(new AccountDirectory(store));
  // Watch first, then list: a change racing the load is applied twice, never missed.
  dir->watch_id_ =
      store.watch("account/", [d = dir.get()](const store::ConfigChange& c) { d->apply(c); });
  auto entries = store.list("account/");
  if (!entries) {
    return tl::unexpected(entries.error());
  }
  for (const auto& e : *entries) {
    dir->apply(store::ConfigChange{e.key, e.value, e.revision});
  }
  return dir;
}

AccountDirectory::~AccountDirectory() {
  store_.unwatch(watch_id_);
}

void AccountDirectory::apply(const store::ConfigChange& change) {
  const std::string name = change.key.substr(std::string_view("account/").size());
  std::unique_lock lock(mutex_);
  if (!change.value) {
    accounts_.erase(name);
  } else if (auto account = account_from_json(*change.value)) {
    accounts_[name] = std::move(*account);
  } else {
    logger()->error("account unreadable key={} error={}", change.key, account.error().detail);
    accounts_.erase(name);
  }
  generation_.fetch_add(1, std::memory_order_release);
}

std::optional<Account> AccountDirectory::find(const std::string& name) const {
  std::shared_lock lock(mutex_);
  const auto it = accounts_.find(name);
  if (it == accounts_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<std::string> AccountDirectory::account_for_ip(const std::string& ip) const {
  std::shared_lock lock(mutex_);
  for (const auto& [name, account] : accounts_) {
    if (account.disabled) {
      continue;
    }
    for (const auto& cidr : account.allow_ips) {
      if (cidr.contains(ip)) {
        return name;
      }
    }
  }
  return std::nullopt;
}

std::size_t AccountDirectory::size() const {
  std::shared_lock lock(mutex_);
  return accounts_.size();
}

Result<void> bootstrap_account(store::ConfigStore& store, const Account& declared,
                               const std::string& password) {
  auto existing = store.get(account_key(declared.name));
  if (!existing) {
    return tl::unexpected(existing.error());
  }
  Account account = declared;
  account.password_hash.clear();
  account.created_ms = now_ms();
  store::Expect expect = store::Expect::absent();
  if (existing->has_value()) {
    if (auto parsed = account_from_json((*existing)->value)) {
      account.password_hash = parsed->password_hash;
      account.created_ms = parsed->created_ms;
      account.disabled = parsed->disabled;
    }
    expect = store::Expect::at((*existing)->revision);
  }
  if (!verify_password(password, account.password_hash)) {
    account.password_hash = hash_password(password);
  }
  auto put = store.put(account_key(declared.name), to_json(account), expect);
  if (!put) {
    return tl::unexpected(put.error());
  }
  return {};
}

}  // namespace txmail::tenancy
