// DNS for delivery and sender-domain checks (DESIGN.md section 3, layer 2): the Resolver
// interface and the record types it returns. Implementations: UnboundResolver (libunbound,
// asynchronous inside Asio), CachingResolver (a TTL-honouring cache in front of another
// resolver) and FakeResolver (unit tests).
//
// Outcomes: records (possibly none: NODATA), kNotFound (NXDOMAIN: the name does not exist,
// permanent) or kDnsTemporary (SERVFAIL, timeout, no answer: try again later).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "net/asio.h"

namespace txmail::dns {

enum class RecordType : std::uint16_t { kA = 1, kMx = 15, kTxt = 16, kAaaa = 28, kTlsa = 52 };

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for the null MX (RFC 7505)

  bool operator==(const MxRecord&) const = default;
};

struct TlsaRecord {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t matching = 0;
  std::string data;  // raw association data

  bool operator==(const TlsaRecord&) const = default;
};

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

std::string_view type_name(RecordType type);
// Lower-cases and drops one trailing dot.
std::string normalize_name(std::string_view name);

}  // namespace txmail::dns
