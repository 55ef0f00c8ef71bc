// Outbound TLS policy per destination (DESIGN.md section 2, step 7):
// - disabled: never STARTTLS;
// - opportunistic (default): STARTTLS when offered, certificate not checked; if the handshake
//   fails, the same host is tried again in clear text;
// - required: STARTTLS must be offered and succeed (certificate not checked), else deferred;
// - verify: as required, and the certificate must chain to a trusted CA and match the MX name.
// Mail is never sent in clear text under required or verify.
#pragma once

#include <string_view>

#include "common/result.h"

namespace txmail::smtp {

enum class TlsMode { kDisabled, kOpportunistic, kRequired, kVerify };

Result<TlsMode> parse_tls_mode(std::string_view text);
std::string_view to_string(TlsMode mode);

inline bool tls_mandatory(TlsMode mode) {
  return mode == TlsMode::kRequired || mode == TlsMode::kVerify;
}

}  // namespace txmail::smtp
