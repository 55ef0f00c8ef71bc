#include "api/forwarded.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace txmail::api {

namespace {

bool trusted(const std::vector<net::Cidr>& proxies, std::string_view ip) {
  return std::any_of(proxies.begin(), proxies.end(),
                     [&ip](const net::Cidr& c) { return c.contains(ip); });
}

}  // namespace

std::string forwarded_client(const std::string& peer, std::string_view forwarded,
                             const std::vector<net::Cidr>& trusted_proxies) {
  if (forwarded.empty() || !trusted(trusted_proxies, peer)) {
    return peer;
  }
  std::string client = peer;
  while (!forwarded.empty()) {
    const std::size_t comma = forwarded.rfind(',');
    std::string_view hop =
        comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
    forwarded = comma == std::string_view::npos ? std::string_view() : forwarded.substr(0, comma);
    while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t')) {
      hop.remove_prefix(1);
    }
    while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t')) {
      hop.remove_suffix(1);
    }
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = false;
    if (!net::parse_ip(hop, bytes, v4)) {
      break;  // not an address: stop believing what comes before it
    }
    client = std::string(hop);
    if (!trusted(trusted_proxies, client)) {
      break;
    }
  }
  return client;
}

}  // namespace txmail::api
