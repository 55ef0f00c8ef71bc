// `txmail dns query TYPE NAME` and `txmail dns mx DOMAIN`: look names up the way delivery
// will (through libunbound, [dns] servers or the system resolver) and print JSON.
#pragma once

#include <string>
#include <vector>

namespace txmail::app {

int dns_query(const std::vector<std::string>& servers, const std::string& type,
              const std::string& name);
int dns_mx(const std::vector<std::string>& servers, const std::string& domain);

}  // namespace txmail::app
