#include "tenancy/domain_service.h"

#include <chrono>

#include "common/duration.h"
#include "tenancy/account.h"

namespace txmail::tenancy {

namespace {

tl::unexpected<Error> not_found(const std::string& name) {
  return make_error(ErrorCode::kNotFound, "domain " + name + " is not registered");
}

}  // namespace

Result<SenderDomain> DomainService::add(const std::string& name, const std::string& account) {
  auto existing = store_.get(account_key(account));
  if (!existing) {
    return tl::unexpected(existing.error());
  }
  if (!existing->has_value()) {
    return make_error(ErrorCode::kNotFound, "account " + account + " does not exist");
  }
  auto master = master_();
  if (!master) {
    return tl::unexpected(master.error());
  }
  auto domain = create_domain(name, account, settings_, *master, now_ms());
  if (!domain) {
    return tl::unexpected(domain.error());
  }
  auto put = store_.put(domain_key(domain->name), to_json(*domain), store::Expect::absent());
  if (!put) {
    if (put.error().code == ErrorCode::kConflict) {
      return make_error(ErrorCode::kConflict, "domain " + domain->name + " is already registered");
    }
    return tl::unexpected(put.error());
  }
  return domain;
}

Result<std::vector<SenderDomain>> DomainService::list(const std::string& account) {
  auto entries = store_.list("domain/");
  if (!entries) {
    return tl::unexpected(entries.error());
  }
  std::vector<SenderDomain> out;
  for (const auto& e : *entries) {
    auto d = domain_from_json(e.value);
    if (d && (account.empty() || d->account == account)) {
      out.push_back(std::move(*d));
    }
  }
  return out;
}

Result<std::pair<SenderDomain, std::uint64_t>> DomainService::load(const std::string& name,
                                                                   const std::string& account) {
  auto normalized = normalize_domain(name);
  if (!normalized) {
    return tl::unexpected(normalized.error());
  }
  auto entry = store_.get(domain_key(*normalized));
  if (!entry) {
    return tl::unexpected(entry.error());
  }
  if (!entry->has_value()) {
    return not_found(*normalized);
  }
  auto d = domain_from_json((*entry)->value);
  if (!d) {
    return tl::unexpected(d.error());
  }
  if (!account.empty() && d->account != account) {
    return not_found(*normalized);
  }
  return std::pair{std::move(*d), (*entry)->revision};
}

Result<SenderDomain> DomainService::get(const std::string& name, const std::string& account) {
  auto loaded = load(name, account);
  if (!loaded) {
    return tl::unexpected(loaded.error());
  }
  return std::move(loaded->first);
}

Result<void> DomainService::remove(const std::string& name, const std::string& account) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto loaded = load(name, account);
    if (!loaded) {
      return tl::unexpected(loaded.error());
    }
    auto erased = store_.erase(domain_key(loaded->first.name), store::Expect::at(loaded->second));
    if (erased || erased.error().code != ErrorCode::kConflict) {
      return erased ? Result<void>() : Result<void>(tl::unexpected(erased.error()));
    }
  }
  return make_error(ErrorCode::kConflict, "domain " + name + " keeps changing; try again");
}

Result<SenderDomain> DomainService::update(
    const std::string& name, const std::string& account,
    const std::function<Result<void>(SenderDomain&)>& change) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto loaded = load(name, account);
    if (!loaded) {
      return tl::unexpected(loaded.error());
    }
    auto& [d, revision] = *loaded;
    if (auto r = change(d); !r) {
      return tl::unexpected(r.error());
    }
    auto put = store_.put(domain_key(d.name), to_json(d), store::Expect::at(revision));
    if (put) {
      return std::move(d);
    }
    if (put.error().code != ErrorCode::kConflict) {
      return tl::unexpected(put.error());
    }
  }
  return make_error(ErrorCode::kConflict, "domain " + name + " keeps changing; try again");
}

Result<SenderDomain> DomainService::rotate(const std::string& name, const std::string& account) {
  auto master = master_();
  if (!master) {
    return tl::unexpected(master.error());
  }
  return update(name, account,
                [&](SenderDomain& d) { return rotate_keys(d, settings_, *master, now_ms()); });
}

Result<SenderDomain> DomainService::import(const std::string& name, const std::string& account,
                                           std::string_view pem) {
  auto master = master_();
  if (!master) {
    return tl::unexpected(master.error());
  }
  return update(name, account,
                [&](SenderDomain& d) { return import_key(d, pem, *master, now_ms()); });
}

Result<SenderDomain> DomainService::verify(const std::string& name, const std::string& account,
                                           const TxtLookup& lookup) {
  return update(name, account,
                [&](SenderDomain& d) { return verify_domain(d, settings_, lookup, now_ms()); });
}

}  // namespace txmail::tenancy
