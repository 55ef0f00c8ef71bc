// DomainService: the operations on sender domains that the CLI and the HTTP API share, on the
// config store, with compare-and-set so concurrent writers (nodes, commands) never lose a
// change. `account` scopes a call to one tenant: another tenant's domain is "not found" to it
// (its existence is not revealed); an empty `account` is the operator, who sees every domain.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "store/config_store.h"
#include "tenancy/master_key.h"
#include "tenancy/sender_domain.h"

namespace txmail::tenancy {

class DomainService {
 public:
  using MasterKeySource = std::function<Result<MasterKey>()>;

  DomainService(store::ConfigStore& store, DomainSettings settings, MasterKeySource master)
      : store_(store), settings_(std::move(settings)), master_(std::move(master)) {}

  const DomainSettings& settings() const { return settings_; }

  Result<SenderDomain> add(const std::string& name, const std::string& account);
  Result<std::vector<SenderDomain>> list(const std::string& account);
  Result<SenderDomain> get(const std::string& name, const std::string& account);
  Result<void> remove(const std::string& name, const std::string& account);
  Result<SenderDomain> rotate(const std::string& name, const std::string& account);
  Result<SenderDomain> import(const std::string& name, const std::string& account,
                              std::string_view pem);
  // `lookup` answers for the names of records_to_publish(); a temporary DNS failure fails the
  // call and changes nothing.
  Result<SenderDomain> verify(const std::string& name, const std::string& account,
                              const TxtLookup& lookup);

 private:
  // The stored domain and its revision, if `account` may see it.
  Result<std::pair<SenderDomain, std::uint64_t>> load(const std::string& name,
                                                      const std::string& account);
  Result<SenderDomain> update(const std::string& name, const std::string& account,
                              const std::function<Result<void>(SenderDomain&)>& change);

  store::ConfigStore& store_;
  DomainSettings settings_;
  MasterKeySource master_;
};

}  // namespace txmail::tenancy
