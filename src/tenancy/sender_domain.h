// Sender domains (issue core-3): a domain an account sends from, its DKIM keys and the DNS
// records its owner must publish. Stored in the config store under "domain/<name>" as JSON, so
// every node and site signs with the same keys; private keys are sealed with the master key.
//
// Key lifecycle. Selectors come in two slots per algorithm ("txm1"/"txm2" for RSA,
// "txm1e"/"txm2e" for Ed25519), so a customer who delegates with CNAMEs publishes them once and
// the service rotates behind them. A new key is "pending" until its DNS record verifies; then
// it becomes "active" and the key it replaces is "retired", still published for the grace
// period so mail signed with it in flight verifies, then dropped (freeing its slot).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dkim/key.h"
#include "tenancy/master_key.h"

namespace txmail::tenancy {

struct DomainSettings {
  std::string service_zone = "txmail.invalid";  // [publish] zone
  int rsa_bits = dkim::kMinRsaBits;             // [dkim] rsa_bits
  bool ed25519 = false;                         // [dkim] ed25519: a second signature
  std::chrono::milliseconds rotation_grace = std::chrono::hours(24 * 7);  // [dkim] rotation_grace

  // [bounces] mx: the host name of the service's inbound listener, which a customer's
  // return-path subdomain names as its MX ("": custom return paths are not offered).
  std::string bounce_mx;

  std::string spf_name() const { return "_spf." + service_zone; }

  // Where the service publishes a selector's key for customers who delegate by CNAME.
  std::string delegated_name(std::string_view domain, std::string_view selector) const;
};

enum class KeyState { kPending, kActive, kRetired };

struct DomainKey {
  std::string selector;
  dkim::Algorithm algorithm = dkim::Algorithm::kRsaSha256;
  KeyState state = KeyState::kPending;
  std::int64_t created_ms = 0;
  std::int64_t activated_ms = 0;
  std::int64_t retire_at_ms = 0;   // retired: published until then
  std::string sealed_private_key;  // MasterKey::seal of the PKCS#8 PEM
  std::string public_key;          // the p= value
  std::string dns_record;          // the TXT value at <selector>._domainkey.<domain>
};

// One DNS record the domain's owner publishes, and what verification found there.
struct DnsCheck {
  std::string purpose;            // "spf", "dkim", "dmarc", "return-path-mx", "return-path-spf"
  std::string name;               // owner name
  std::string type;               // "TXT" or "MX" (or "CNAME" for the delegation alternative)
  std::string value;              // what to publish
  std::string alternative_cname;  // dkim: a CNAME target instead of the TXT
  bool required = true;
  std::string status = "unchecked";  // ok | missing | wrong | unchecked
  std::string found;                 // for "wrong": what is there instead
};

struct SenderDomain {
  std::string name;
  std::string account;
  std::int64_t created_ms = 0;
  bool verified = false;
  std::int64_t verified_ms = 0;
  std::int64_t checked_ms = 0;
  std::vector<DomainKey> keys;
  std::vector<DnsCheck> checks;  // from the last verification
  // The return-path subdomain (return_path_domain()) has its MX and SPF records in place: the
  // envelope sender of this domain's mail is b-<token>@bounce.<name>, aligned with the From
  // domain for DMARC (issue bounce-1, item 1).
  bool return_path = false;
};

// The customer's return-path subdomain: "bounce.<domain>".
std::string return_path_domain(std::string_view domain);

std::string domain_key(std::string_view name);  // "domain/<name>"
// A host name of LDH labels with at least two labels, at most 253 octets; lower-cased.
Result<std::string> normalize_domain(std::string_view name);

std::string to_json(const SenderDomain& d);
Result<SenderDomain> domain_from_json(std::string_view text);
std::string_view state_name(KeyState s);

// A new domain with a pending RSA key (and a pending Ed25519 key when enabled).
Result<SenderDomain> create_domain(const std::string& name, const std::string& account,
                                   const DomainSettings& settings, const MasterKey& master,
                                   std::int64_t now_ms);
// A new pending key per algorithm in use, in the free slot; refused while a rotation is pending
// or a retired key still holds the slot.
Result<void> rotate_keys(SenderDomain& d, const DomainSettings& settings, const MasterKey& master,
                         std::int64_t now_ms);
// An existing private key (PEM) as the pending key of its algorithm (replacing a pending one).
Result<void> import_key(SenderDomain& d, std::string_view pem, const MasterKey& master,
                        std::int64_t now_ms);

// The records to publish (SPF, DKIM for every key that is not retired, DMARC suggestion; with
// settings.bounce_mx, the return-path subdomain's MX and SPF, optional).
std::vector<DnsCheck> records_to_publish(const SenderDomain& d, const DomainSettings& settings);

// The TXT strings at a name (each record's strings joined); empty when there is none.
// A temporary DNS failure is an error: verification is then not concluded.
using TxtLookup = std::function<Result<std::vector<std::string>>(const std::string& name)>;

// Answers gathered beforehand (by an asynchronous resolver): name -> TXT strings.
using TxtAnswers = std::map<std::string, std::vector<std::string>>;
// The names verify_domain() will look up: each a TXT name, or "MX <name>" for an MX lookup
// (whose answers are the exchanges' host names).
std::vector<std::string> names_to_verify(const SenderDomain& d, const DomainSettings& settings);
inline constexpr std::string_view kMxQuery = "MX ";
// A lookup that answers from `answers`; a name not in them has no record.
TxtLookup lookup_in(const TxtAnswers& answers);

// Checks every record through `lookup`, stores the results in d.checks, activates pending
// keys whose record is in place (retiring what they replace), drops retired keys past their
// grace, and sets d.verified (SPF and an active RSA key's record in place).
Result<void> verify_domain(SenderDomain& d, const DomainSettings& settings, const TxtLookup& lookup,
                           std::int64_t now_ms);

// The key to sign with per algorithm: the active one, or while none is, the pending one.
std::vector<const DomainKey*> signing_keys(const SenderDomain& d);

}  // namespace txmail::tenancy
