// http:// and https:// URLs as the HTTP clients need them (the webhook dispatcher, the
// administration commands): scheme, host (IPv6 without brackets), port (the scheme's default
// when absent) and the request target. Userinfo ("user@host") is refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace txmail::net {

struct HttpUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target = "/";  // path and query
};

std::optional<HttpUrl> parse_http_url(std::string_view rest);

}  // namespace txmail::net
