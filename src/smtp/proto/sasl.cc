#include "smtp/proto/sasl.h"

#include "common/base64.h"

namespace txmail::smtp {

tl::expected<PlainCredentials, SaslError> decode_plain_response(std::string_view response) {
  std::string decoded;
  if (response != "=" && !base64_decode(response, decoded)) {
    return tl::unexpected(SaslError::kUndecodable);
  }
  // authzid NUL authcid NUL passwd.
  const std::size_t first = decoded.find('\0');
  const std::size_t second = first == std::string::npos ? first : decoded.find('\0', first + 1);
  if (second == std::string::npos) {
    return tl::unexpected(SaslError::kMalformed);
  }
  return PlainCredentials{decoded.substr(0, first), decoded.substr(first + 1, second - first - 1),
                          decoded.substr(second + 1)};
}

std::optional<std::string> decode_login_response(std::string_view response) {
  std::string decoded;
  if (!base64_decode(response, decoded)) {
    return std::nullopt;
  }
  return decoded;
}

}  // namespace txmail::smtp
