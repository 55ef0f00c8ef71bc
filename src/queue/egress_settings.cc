#include "queue/egress_settings.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "dns/resolver.h"
#include "net/cidr.h"

namespace txmail::queue {

namespace json = boost::json;

namespace {

tl::unexpected<Error> invalid(const std::string& key, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, key + ": " + what);
}

}  // namespace

Result<smtp::Route> parse_relay(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  unsigned port = 0;
  if (colon == std::string_view::npos || colon == 0
      || std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec != std::errc()
      || port == 0 || port > 65535) {
    return make_error(ErrorCode::kInvalidArgument,
                      "expected \"HOST:PORT\", got '" + std::string(text) + "'");
  }
  std::string host(text.substr(0, colon));
  if (host.starts_with("[") && host.ends_with("]")) {
    host = host.substr(1, host.size() - 2);
  }
  return smtp::Route{host, static_cast<std::uint16_t>(port)};
}

std::string relay_text(const smtp::Route& route) {
  const bool v6 = route.host.find(':') != std::string::npos;
  return (v6 ? "[" + route.host + "]" : route.host) + ":" + std::to_string(route.port);
}

Result<void> validate(const EgressSettings& s) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < s.sources.size(); ++i) {
    const auto& src = s.sources[i];
    const std::string key = "egress.source[" + std::to_string(i) + "]";
    if (src.name.empty()) {
      return invalid(key + ".name", "is required");
    }
    if (!names.insert(src.name).second) {
      return invalid(key + ".name", "'" + src.name + "' is used twice");
    }
    std::array<std::uint8_t, 16> ip{};
    bool v4 = false;
    if (!src.address.empty() && !net::parse_ip(src.address, ip, v4)) {
      return invalid(key + ".address", "'" + src.address + "' is not an IP address");
    }
  }
  for (const auto& [name, members] : s.pools) {
    if (name.empty()) {
      return invalid("egress.pool", "a pool needs a name");
    }
    if (members.empty()) {
      return invalid("egress.pool", "pool '" + name + "' must name at least one source");
    }
    for (const auto& m : members) {
      if (!names.contains(m)) {
        return invalid("egress.pool",
                       fmt::format("pool '{}': no [[egress.source]] named '{}'", name, m));
      }
    }
  }
  for (std::size_t i = 0; i < s.routes.size(); ++i) {
    if (s.routes[i].domain.empty()) {
      return invalid("delivery.route[" + std::to_string(i) + "].domain",
                     "is required (a domain or \"*\")");
    }
  }
  return {};
}

Result<EgressSettings> for_site(const EgressSettings& all, const std::string& site) {
  EgressSettings out = all;
  auto elsewhere = [&site](const EgressSource& s) {
    return !s.site.empty() && s.site != site;
  };
  std::set<std::string> gone;
  for (const auto& s : out.sources) {
    if (elsewhere(s)) {
      gone.insert(s.name);
    }
  }
  std::erase_if(out.sources, elsewhere);
  if (out.sources.empty()) {
    return invalid("egress.source", "no source at this node's site '" + site + "' (node.site)");
  }
  for (auto& [name, members] : out.pools) {
    std::erase_if(members, [&gone](const std::string& m) { return gone.contains(m); });
    if (members.empty()) {
      return invalid(
          "egress.pool",
          fmt::format("pool '{}' has no source at this node's site '{}' (node.site)", name, site));
    }
  }
  return out;
}

std::string to_json(const EgressSettings& s) {
  json::array sources;
  for (const auto& src : s.sources) {
    sources.push_back(json::object{
        {"name", src.name}, {"address", src.address}, {"ehlo", src.ehlo}, {"site", src.site}});
  }
  json::object pools;
  for (const auto& [name, members] : s.pools) {
    json::array m;
    for (const auto& x : members) {
      m.emplace_back(x);
    }
    pools[name] = std::move(m);
  }
  json::array routes;
  for (const auto& r : s.routes) {
    routes.push_back(json::object{{"domain", r.domain}, {"relay", relay_text(r.route)}});
  }
  return json::serialize(json::object{
      {"sources", std::move(sources)}, {"pools", std::move(pools)}, {"routes", std::move(routes)}});
}

Result<EgressSettings> egress_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "egress settings: not a JSON object");
  }
  const auto& o = v.as_object();
  auto str = [](const json::object& x, const char* k) {
    const auto* f = x.if_contains(k);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  EgressSettings s;
  const auto* sources = o.if_contains("sources");
  if (sources == nullptr || !sources->is_array()) {
    return invalid("sources", "must be an array of {name, address, ehlo, site}");
  }
  for (const auto& e : sources->as_array()) {
    if (!e.is_object()) {
      return invalid("sources", "must be an array of objects");
    }
    const auto& x = e.as_object();
    s.sources.push_back(
        EgressSource{str(x, "name"), str(x, "address"), str(x, "ehlo"), str(x, "site")});
  }
  if (const auto* pools = o.if_contains("pools")) {
    if (!pools->is_object()) {
      return invalid("pools", "must be an object: pool name -> source names");
    }
    for (const auto& [name, members] : pools->as_object()) {
      if (!members.is_array()) {
        return invalid("pools",
                       "pool '" + std::string(name) + "' must be an array of source names");
      }
      auto& list = s.pools[std::string(name)];
      for (const auto& m : members.as_array()) {
        if (!m.is_string()) {
          return invalid("pools",
                         "pool '" + std::string(name) + "' must be an array of source names");
        }
        list.emplace_back(m.as_string());
      }
    }
  }
  if (const auto* routes = o.if_contains("routes")) {
    if (!routes->is_array()) {
      return invalid("routes", "must be an array of {domain, relay}");
    }
    for (const auto& e : routes->as_array()) {
      if (!e.is_object()) {
        return invalid("routes", "must be an array of {domain, relay}");
      }
      auto route = parse_relay(str(e.as_object(), "relay"));
      if (!route) {
        return invalid("routes", route.error().detail);
      }
      s.routes.push_back(RouteRule{dns::normalize_name(str(e.as_object(), "domain")), *route});
    }
  }
  if (auto r = validate(s); !r) {
    return tl::unexpected(r.error());
  }
  return s;
}

}  // namespace txmail::queue
