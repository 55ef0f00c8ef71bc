// EgressSettings: where mail leaves from and where it goes for some domains -- the egress
// sources of every site, the pools that group them and the routes ([[egress.source]],
// [[egress.pool]], [[delivery.route]]). In cluster mode they are one document in the shared
// config store (kEgressKey), the same for every node of the region; each node sends from its
// own site's part (for_site). Embedded, they come from the config file alone.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "queue/delivery_options.h"

namespace txmail::queue {

inline constexpr const char* kEgressKey = "egress/settings";

struct EgressSettings {
  std::vector<EgressSource> sources;
  std::map<std::string, std::vector<std::string>> pools;
  std::vector<RouteRule> routes;
};

// Names present and unique, addresses IPs, pool members known, routes "HOST:PORT".
// Errors: kInvalidArgument, detail "<config key>: <what>", one line.
Result<void> validate(const EgressSettings& settings);
// The part a node at `site` sends from: other sites' sources left out of the sources and of
// every pool. Every pool must keep a source there (a dedicated pool has one per site).
Result<EgressSettings> for_site(const EgressSettings& all, const std::string& site);

std::string to_json(const EgressSettings& settings);
Result<EgressSettings> egress_from_json(std::string_view text);  // validated

// "HOST:PORT" (HOST a name, an IP or [IPv6]).
Result<smtp::Route> parse_relay(std::string_view text);
std::string relay_text(const smtp::Route& route);

}  // namespace txmail::queue
