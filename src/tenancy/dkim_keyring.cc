#include "tenancy/dkim_keyring.h"

#include <openssl/crypto.h>

#include <mutex>

#include "common/idna.h"
#include "common/log.h"
#include "tenancy/sender_domain.h"

namespace txmail::tenancy {

Result<std::unique_ptr<DkimKeyring>> DkimKeyring::load(store::ConfigStore& store,
                                                       MasterKey master) {
  std::unique_ptr<DkimKeyring> ring(new DkimKeyring(store, master));
  // Watch first, then list: a change racing the load is applied twice, never missed.
  ring->watch_id_ =
      store.watch("domain/", [r = ring.get()](const store::ConfigChange& c) { r->apply(c); });
  auto entries = store.list("domain/");
  if (!entries) {
    return tl::unexpected(entries.error());
  }
  for (const auto& e : *entries) {
    ring->apply(store::ConfigChange{e.key, e.value, e.revision});
  }
  return ring;
}

DkimKeyring::~DkimKeyring() {
  store_.unwatch(watch_id_);
}

void DkimKeyring::apply(const store::ConfigChange& change) {
  const std::string name = change.key.substr(std::string_view("domain/").size());
  std::shared_ptr<DomainSigning> next;
  if (change.value) {
    auto domain = domain_from_json(*change.value);
    if (!domain) {
      logger()->error("domain unreadable key={} error={}", change.key, domain.error().detail);
    } else {
      next = std::make_shared<DomainSigning>();
      next->domain = domain->name;
      next->account = domain->account;
      next->verified = domain->verified;
      next->return_path = domain->return_path;
      for (const DomainKey* k : signing_keys(*domain)) {
        auto pem = master_.open(k->sealed_private_key, "dkim:" + domain->name + ":" + k->selector);
        if (!pem) {
          logger()->error("domain={} selector={} key cannot be unsealed: {}", domain->name,
                          k->selector, pem.error().detail);
          continue;
        }
        auto key = dkim::PrivateKey::from_pem(*pem);
        // from_pem took a view: nothing was reallocated (the analyzer thinks otherwise).
        // NOLINTNEXTLINE(clang-analyzer-cplusplus.InnerPointer)
        OPENSSL_cleanse(pem->data(), pem->size());
        if (!key) {
          logger()->error("domain={} selector={} key unreadable: {}", domain->name, k->selector,
                          key.error().detail);
          continue;
        }
        next->keys.push_back(dkim::SigningKey{domain->name, k->selector, std::move(*key)});
      }
    }
  }
  std::unique_lock lock(mutex_);
  if (next) {
    domains_[name] = std::move(next);
  } else {
    domains_.erase(name);
  }
}

std::shared_ptr<const DomainSigning> DkimKeyring::find(const std::string& domain) const {
  std::shared_lock lock(mutex_);
  const auto it = domains_.find(domain);
  return it == domains_.end() ? nullptr : it->second;
}

std::string bounce_domain_of(const DkimKeyring& keys, std::string_view sender,
                             const std::string& fallback) {
  const auto at = sender.rfind('@');
  if (at == std::string_view::npos) {
    return fallback;
  }
  auto domain = idna::to_ascii(sender.substr(at + 1));
  if (!domain) {
    return fallback;
  }
  const auto d = keys.find(*domain);
  return d && d->return_path ? return_path_domain(*domain) : fallback;
}

bool is_return_path_domain(const DkimKeyring& keys, std::string_view domain) {
  const std::string_view label = "bounce.";
  if (!domain.starts_with(label)) {
    return false;
  }
  const std::string sender_domain(domain.substr(label.size()));
  const auto d = keys.find(sender_domain);
  return d && d->return_path && return_path_domain(sender_domain) == domain;
}

}  // namespace txmail::tenancy
