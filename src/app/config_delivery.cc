// Reading the delivery part of the configuration: limits, retries, TLS policy, routes,
// per-domain policies, egress sources and pools (docs/config.md).
#include <charconv>

#include "app/config_parse.h"
#include "common/duration.h"
#include "common/idna.h"
#include "dns/resolver.h"
#include "queue/egress_settings.h"

namespace txmail::app::detail {

namespace {

Result<smtp::Route> parse_relay(const std::string& key, std::string_view text) {
  // "HOST:PORT" where HOST may be a name (resolved at delivery) or an IP.
  const std::size_t colon = text.rfind(':');
  unsigned port = 0;
  if (colon == std::string_view::npos || colon == 0
      || std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec != std::errc()
      || port == 0 || port > 65535) {
    return bad(key, "expected \"HOST:PORT\", got '" + std::string(text) + "'");
  }
  std::string host(text.substr(0, colon));
  if (host.starts_with("[") && host.ends_with("]")) {
    host = host.substr(1, host.size() - 2);
  }
  return smtp::Route{host, static_cast<std::uint16_t>(port)};
}

Result<void> read_delivery_limits(const toml::table& t, queue::DeliveryOptions& d) {
  constexpr std::int64_t kBig = 1'000'000;
  if (auto r =
          read_count(t, "delivery.max_connections_per_site", d.max_connections_per_site, 1, kBig);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.max_connections_per_source", d.max_connections_per_source, 1,
                          kBig);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.max_dns_lookups", d.max_dns_lookups, 1, 100'000); !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.max_messages_per_connection", d.max_messages_per_connection,
                          1, kBig);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.max_recipients_per_transaction",
                          d.max_recipients_per_transaction, 1, 1000);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.rate_per_site", d.rate_per_site, 0, kBig); !r) {
    return r;
  }
  if (auto r = read_count(t, "delivery.rate_per_source", d.rate_per_source, 0, kBig); !r) {
    return r;
  }
  if (const auto tls = t.at_path("delivery.tls").value<std::string>()) {
    auto mode = smtp::parse_tls_mode(*tls);
    if (!mode) {
      return bad("delivery.tls", mode.error().detail);
    }
    d.tls = *mode;
  }
  if (auto r = read_durations(t, "delivery.retry_schedule", d.retry.schedule); !r) {
    return r;
  }
  if (auto r = read_duration(t, "delivery.retry_every", d.retry.tail); !r) {
    return r;
  }
  if (auto r = read_duration(t, "delivery.max_age", d.retry.max_age); !r) {
    return r;
  }
  if (auto r = read_duration(t, "delivery.connect_timeout", d.client.connect_timeout); !r) {
    return r;
  }
  if (auto r = read_duration(t, "delivery.command_timeout", d.client.command_timeout); !r) {
    return r;
  }
  d.client.greeting_timeout = d.client.command_timeout;
  if (auto r = read_duration(t, "delivery.data_timeout", d.client.data_block_timeout); !r) {
    return r;
  }
  d.client.data_init_timeout = d.client.data_block_timeout;
  d.client.data_end_timeout = d.client.data_block_timeout * 3;
  if (auto r = read_duration(t, "delivery.idle_connection", d.idle_connection); !r) {
    return r;
  }
  d.paused = t.at_path("delivery.paused").value_or(false);
  if (auto r = read_count(t, "delivery.mx_port", d.mx_port, 1, 65535); !r) {
    return r;
  }
  return {};
}

namespace {

// A route's or policy's domain: "*", "*.<domain>" or a domain, the domain a valid name in
// either form (an invalid IDN would never match anything: it is refused here instead).
Result<void> check_domain(const std::string& key, const std::string& domain) {
  if (domain == "*") {
    return {};
  }
  const std::string_view whole{domain};
  const std::string_view name = whole.starts_with("*.") ? whole.substr(2) : whole;
  if (auto ascii = idna::to_ascii(name); !ascii) {
    return bad(key, "\"" + domain + "\" is not a valid domain name (" + ascii.error().detail + ")");
  }
  return {};
}

}  // namespace

Result<void> read_delivery_tables(const toml::table& t, queue::DeliveryOptions& d) {
  if (const auto* routes = t.at_path("delivery.route").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *routes) {
      const auto& r = *node.as_table();
      const std::string key = "delivery.route[" + std::to_string(i++) + "]";
      const std::string domain = r["domain"].value_or(std::string());
      if (domain.empty()) {
        return bad(key + ".domain", "is required (a domain or \"*\")");
      }
      if (auto ok = check_domain(key + ".domain", domain); !ok) {
        return ok;
      }
      auto route = parse_relay(key + ".relay", r["relay"].value_or(std::string()));
      if (!route) {
        return tl::unexpected(route.error());
      }
      d.routes.push_back(queue::RouteRule{dns::normalize_name(domain), *route});
    }
  }
  if (const auto* policies = t.at_path("delivery.policy").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *policies) {
      const auto& p = *node.as_table();
      const std::string key = "delivery.policy[" + std::to_string(i++) + "]";
      queue::DestinationPolicy policy;
      policy.domain = dns::normalize_name(p["domain"].value_or(std::string()));
      if (policy.domain.empty()) {
        return bad(key + ".domain", "is required");
      }
      if (auto ok = check_domain(key + ".domain", p["domain"].value_or(std::string())); !ok) {
        return ok;
      }
      if (auto v = p["max_connections"].value<std::int64_t>()) {
        policy.max_connections = static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      }
      if (auto v = p["max_messages_per_connection"].value<std::int64_t>()) {
        policy.max_messages_per_connection =
            static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      }
      if (auto v = p["max_recipients"].value<std::int64_t>()) {
        policy.max_recipients = static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      }
      if (auto v = p["rate"].value<std::int64_t>()) {
        policy.rate = static_cast<double>(*v);
      }
      if (auto v = p["tls"].value<std::string>()) {
        auto mode = smtp::parse_tls_mode(*v);
        if (!mode) {
          return bad(key + ".tls", mode.error().detail);
        }
        policy.tls = *mode;
      }
      d.policies.push_back(policy);
    }
  }
  return {};
}

Result<void> keep_own_site(Config& c);

Result<void> read_egress(const toml::table& t, Config& c) {
  auto& d = c.delivery;
  if (const auto* sources = t.at_path("egress.source").as_array()) {
    d.sources.clear();
    std::size_t i = 0;
    for (const auto& node : *sources) {
      const auto& s = *node.as_table();
      const std::string key = "egress.source[" + std::to_string(i++) + "]";
      queue::EgressSource source{
          s["name"].value_or(std::string()), s["address"].value_or(std::string()),
          s["ehlo"].value_or(std::string()), s["site"].value_or(std::string())};
      if (source.name.empty()) {
        return bad(key + ".name", "is required");
      }
      std::array<std::uint8_t, 16> ip{};
      bool v4 = false;
      if (!source.address.empty() && !net::parse_ip(source.address, ip, v4)) {
        return bad(key + ".address", "'" + source.address + "' is not an IP address");
      }
      d.sources.push_back(source);
    }
  }
  if (const auto* pools = t.at_path("egress.pool").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *pools) {
      const auto& p = *node.as_table();
      const std::string key = "egress.pool[" + std::to_string(i++) + "]";
      const std::string name = p["name"].value_or(std::string());
      if (name.empty()) {
        return bad(key + ".name", "is required");
      }
      std::vector<std::string> members;
      if (const auto* list = p["sources"].as_array()) {
        for (const auto& m : *list) {
          const std::string member = *m.value<std::string>();
          if (std::none_of(d.sources.begin(), d.sources.end(),
                           [&](const auto& s) { return s.name == member; })) {
            return bad(key + ".sources", "no [[egress.source]] named '" + member + "'");
          }
          members.push_back(member);
        }
      }
      if (members.empty()) {
        return bad(key + ".sources", "must name at least one source");
      }
      d.pools[name] = members;
    }
  }
  return keep_own_site(c);
}

// A node sends only from its own site's sources (and those of no site): every pool must keep
// at least one of them, so an account's dedicated pool has an address at every site.
Result<void> keep_own_site(Config& c) {
  auto& d = c.delivery;
  c.egress = queue::EgressSettings{d.sources, d.pools, d.routes};
  auto own = queue::for_site(c.egress, c.site);
  if (!own) {
    return make_error(ErrorCode::kConfig, own.error().detail);
  }
  d.sources = std::move(own->sources);
  d.pools = std::move(own->pools);
  for (std::size_t i = 0; i < c.accounts.size(); ++i) {
    const auto& pool = c.accounts[i].account.pool;
    if (!pool.empty() && pool != "default" && !d.pools.contains(pool)) {
      return bad("account[" + std::to_string(i) + "].pool",
                 "no [[egress.pool]] named '" + pool + "'");
    }
  }
  return {};
}

}  // namespace

Result<void> read_delivery(const toml::table& t, Config& c) {
  if (auto r = read_delivery_limits(t, c.delivery); !r) {
    return r;
  }
  if (auto r = read_delivery_tables(t, c.delivery); !r) {
    return r;
  }
  return read_egress(t, c);
}

}  // namespace txmail::app::detail
