#include "smtp/client/tls_policy.h"

#include <string>

namespace txmail::smtp {

Result<TlsMode> parse_tls_mode(std::string_view text) {
  if (text == "disabled") {
    return TlsMode::kDisabled;
  }
  if (text == "opportunistic") {
    return TlsMode::kOpportunistic;
  }
  if (text == "required") {
    return TlsMode::kRequired;
  }
  if (text == "verify") {
    return TlsMode::kVerify;
  }
  return make_error(
      ErrorCode::kConfig,
      "'" + std::string(text) + "' is not a TLS mode (disabled, opportunistic, required, verify)");
}

std::string_view to_string(TlsMode mode) {
  switch (mode) {
    case TlsMode::kDisabled:
      return "disabled";
    case TlsMode::kOpportunistic:
      return "opportunistic";
    case TlsMode::kRequired:
      return "required";
    case TlsMode::kVerify:
      return "verify";
  }
  return "?";
}

}  // namespace txmail::smtp
