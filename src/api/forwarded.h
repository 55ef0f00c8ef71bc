// The client's address of an API request behind trusted proxies (X-Forwarded-For, issue
// harden-1 defect 6): what a proxy appends is believed, what the client wrote is not. Pure: no
// I/O; the HTTP server calls it for every request, with every X-Forwarded-For line joined by
// commas in the order received.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/cidr.h"

namespace txmail::api {

// The peer's address, or when the peer is a trusted proxy the last address of `forwarded`
// that is not a trusted proxy's; a hop that is not an address stops the walk (anything before
// it the client made up).
std::string forwarded_client(const std::string& peer, std::string_view forwarded,
                             const std::vector<net::Cidr>& trusted_proxies);

}  // namespace txmail::api
