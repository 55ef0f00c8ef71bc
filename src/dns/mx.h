// Where mail for a domain goes (RFC 5321 section 5.1, RFC 7505):
// - MX records sorted by preference, shuffled among equal preferences so load spreads;
// - no MX records (NODATA): the domain itself is the only host (implicit MX);
// - a null MX ("MX 0 .") or a domain that does not exist: permanent failure (kNotFound);
// - a temporary DNS failure: kDnsTemporary, try again later.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dns/resolver.h"

namespace txmail::dns {

struct MxPlan {
  std::vector<std::string> hosts;  // in the order to try them
  bool implicit = false;           // no MX: the domain's own A/AAAA
  std::chrono::seconds ttl{0};

  // The destination site: the set of MX hosts, in a stable order. Domains hosted by the same
  // provider share it, and with it one queue and one set of limits.
  std::string site() const;
};

// Pure: turns an MX answer into the delivery order. `random` returns a uniformly random
// 64-bit value (injected so tests are repeatable).
Result<MxPlan> plan_mx(const std::string& domain, const Answer& mx_answer,
                       const std::function<std::uint64_t()>& random);

awaitable<Result<MxPlan>> resolve_mx(Resolver& resolver, std::string domain);

// A then AAAA records of a host; kNotFound when it has neither.
awaitable<Result<std::vector<std::string>>> resolve_addresses(Resolver& resolver, std::string host);

}  // namespace txmail::dns
