// The byte-at-a-time body canonicalization (RFC 6376 sections 3.4.3 and 3.4.4) that txmail used
// before the vectorized one in body_canon.h (issue perf-1). Kept unchanged as the reference:
// the property test (canon_property_test.cc) holds the fast code to the same hashes on millions
// of bodies, and bench/dkim_bench times both. Not for the data path.
#pragma once

#include <string>
#include <string_view>

#include "dkim/canon.h"

namespace txmail::dkim::detail {

std::string canonicalize_body_reference(Canon canon, std::string_view body);
Digest body_hash_reference(Canon canon, std::string_view body);

}  // namespace txmail::dkim::detail
