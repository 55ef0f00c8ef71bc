#include "api/credentials.h"

#include <cstddef>

#include "common/base64.h"

namespace txmail::api {

namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

Credentials read_credentials(std::string_view authorization) {
  Credentials c;
  if (authorization.empty()) {
    return c;
  }
  if (iequals_prefix(authorization, "bearer ")) {
    c.scheme = Credentials::Scheme::kBearer;
    c.secret = std::string(authorization.substr(7));
    return c;
  }
  if (!iequals_prefix(authorization, "basic ")) {
    c.scheme = Credentials::Scheme::kUnsupported;
    return c;
  }
  std::string decoded;
  if (!base64_decode(authorization.substr(6), decoded)) {
    c.scheme = Credentials::Scheme::kMalformed;
    return c;
  }
  const std::size_t at = decoded.find(':');
  if (at == std::string::npos) {
    c.scheme = Credentials::Scheme::kMalformed;
    return c;
  }
  c.scheme = Credentials::Scheme::kBasic;
  c.user = decoded.substr(0, at);
  c.secret = decoded.substr(at + 1);
  return c;
}

}  // namespace txmail::api
