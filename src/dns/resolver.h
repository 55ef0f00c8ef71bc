// DNS for delivery and sender-domain checks (DESIGN.md section 3, layer 2): the Resolver
// interface and the record types it returns. Implementations: UnboundResolver (libunbound,
// asynchronous inside Asio), CachingResolver (a TTL-honouring cache in front of another
// resolver) and FakeResolver (unit tests).
//
// Outcomes: records (possibly none: NODATA), kNotFound (NXDOMAIN: the name does not exist,
// permanent) or kDnsTemporary (SERVFAIL, timeout, no answer: try again later).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "dns/records.h"
#include "net/asio.h"

namespace txmail::dns {

// One answer. `values` holds, per type: A and AAAA as textual addresses, TXT as the
// concatenated character-strings of each record; MX and TLSA are in `mx` and `tlsa`.
struct Answer {
  std::vector<std::string> values;
  std::vector<MxRecord> mx;
  std::vector<TlsaRecord> tlsa;
  std::chrono::seconds ttl{0};
  bool secure = false;  // DNSSEC-validated

  bool empty() const { return values.empty() && mx.empty() && tlsa.empty(); }
};

class Resolver {
 public:
  Resolver() = default;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  Resolver(Resolver&&) = delete;
  Resolver& operator=(Resolver&&) = delete;
  virtual ~Resolver() = default;

  // `name` is a domain name without the trailing dot; the answer resumes the caller on its own
  // executor.
  virtual awaitable<Result<Answer>> query(std::string name, RecordType type) = 0;
};

}  // namespace txmail::dns
