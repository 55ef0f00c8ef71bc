// Body canonicalization (RFC 6376 sections 3.4.3 and 3.4.4) and the SHA-256 body hash, fed from
// the body itself: the few places where the canonical form differs are found by a vectorized
// scan (body_scan.h), and the text between them goes to SHA-256 without a copy. canon.cc calls
// these with the fastest scanner the CPU runs; the property test calls them with each scanner
// and compares with the reference (canon_reference.h), which decides every edge case.
#pragma once

#include <string>
#include <string_view>

#include "dkim/body_scan.h"
#include "dkim/canon.h"

namespace txmail::dkim::detail {

std::string canonicalize_body_with(Canon canon, std::string_view body, Scanner scanner);
Digest body_hash_with(Canon canon, std::string_view body, Scanner scanner);

}  // namespace txmail::dkim::detail
