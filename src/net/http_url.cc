#include "net/http_url.h"

namespace txmail::net {

std::optional<HttpUrl> parse_http_url(std::string_view rest) {
  HttpUrl u;
  if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    u.target = std::string(rest.substr(slash));
    if (u.target.front() == '?') {
      u.target.insert(0, "/");
    }
  }
  if (hostport.starts_with("[")) {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    u.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && !hostport.starts_with(":")) {
      return std::nullopt;
    }
    u.port = hostport.empty() ? "" : std::string(hostport.substr(1));
  } else {
    const std::size_t colon = hostport.rfind(':');
    u.host = std::string(hostport.substr(0, colon));
    u.port = colon == std::string_view::npos ? "" : std::string(hostport.substr(colon + 1));
  }
  if (u.port.empty()) {
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty() || u.host.find_first_of("@ \t\r\n") != std::string::npos
      || u.port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return u;
}

}  // namespace txmail::net
