// DKIM signatures (RFC 6376 sections 3.5, 3.7 and 5): the signer that adds txmail's
// DKIM-Signature fields, and the verifier used by tests and by `txmail dkim verify`.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dkim/canon.h"
#include "dkim/key.h"

namespace txmail::dkim {

// Tag lists ("a=b; c=d", section 3.2), with folding white space kept inside values.
struct Tag {
  std::string_view name;
  std::string_view value;
};

std::optional<std::vector<Tag>> parse_tags(std::string_view text);
std::optional<std::string_view> tag(const std::vector<Tag>& tags, std::string_view name);
std::string strip_whitespace(std::string_view value);

// The header fields txmail signs when present. From is signed once more than it occurs, so a
// From added later breaks the signature.
const std::vector<std::string_view>& default_signed_headers();

struct SigningKey {
  std::string domain;
  std::string selector;
  PrivateKey key;
};

struct SignOptions {
  Canon header = Canon::kRelaxed;
  Canon body = Canon::kRelaxed;
  std::int64_t timestamp = 0;  // t=; 0: now
};

// The DKIM-Signature fields (each ending in CRLF, folded) to put on top of `message`, one per
// key, in the order of `keys`. The body is hashed once per canonicalization.
Result<std::string> sign(std::string_view message, const std::vector<SigningKey>& keys,
                         const SignOptions& options = {});

// The data a signature covers: the selected header fields canonicalized, then the
// DKIM-Signature field itself with an empty b= and without its final CRLF (section 3.7).
std::string signed_data(std::string_view headers, const std::vector<std::string>& names,
                        Canon canon, std::string_view signature_field_without_b);

// Verification of every DKIM-Signature in a message. `lookup` returns the TXT record at
// "<selector>._domainkey.<domain>" (empty: none).
using KeyLookup = std::function<std::string(const std::string& name)>;

struct SignatureCheck {
  std::string domain;
  std::string selector;
  std::string algorithm;
  bool ok = false;
  std::string reason;  // why not, when !ok
};

std::vector<SignatureCheck> verify(std::string_view message, const KeyLookup& lookup);

}  // namespace txmail::dkim
