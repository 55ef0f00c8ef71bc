// DkimKeyring: every sender domain with its signing keys unsealed, in memory, loaded from the
// config store and kept current by a watch (a rotation on any node reaches every node), so
// the signing path never touches the disk or the master key.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "dkim/signature.h"
#include "store/config_store.h"
#include "tenancy/master_key.h"

namespace txmail::tenancy {

struct DomainSigning {
  std::string domain;
  std::string account;
  bool verified = false;
  bool return_path = false;            // bounce.<domain> is verified: the envelope sender's domain
  std::vector<dkim::SigningKey> keys;  // RSA first, then Ed25519 when there is one
};

class DkimKeyring {
 public:
  static Result<std::unique_ptr<DkimKeyring>> load(store::ConfigStore& store, MasterKey master);
  ~DkimKeyring();
  DkimKeyring(const DkimKeyring&) = delete;
  DkimKeyring& operator=(const DkimKeyring&) = delete;
  DkimKeyring(DkimKeyring&&) = delete;
  DkimKeyring& operator=(DkimKeyring&&) = delete;

  // The domain's signing state, or null when it is not registered.
  std::shared_ptr<const DomainSigning> find(const std::string& domain) const;

 private:
  DkimKeyring(store::ConfigStore& store, MasterKey master) : store_(store), master_(master) {}

  void apply(const store::ConfigChange& change);

  store::ConfigStore& store_;
  MasterKey master_;
  std::uint64_t watch_id_ = 0;
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const DomainSigning>> domains_;
};

// The domain of a return path for mail from `sender`: its domain's return-path subdomain
// (return_path_domain()) when that is verified, else `fallback` ([bounces] domain).
std::string bounce_domain_of(const DkimKeyring& keys, std::string_view sender,
                             const std::string& fallback);

// Whether `domain` (an A-label, lower case) is a verified return-path subdomain.
bool is_return_path_domain(const DkimKeyring& keys, std::string_view domain);

}  // namespace txmail::tenancy
