#include "app/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/duration.h"
#include "dns/resolver.h"

namespace txmail::app {

namespace {

enum class Kind { kString, kInteger, kBoolean, kStringArray, kTable, kTableArray };

// Every key txmail knows: "[]" marks an array of tables. Keys of later subsystems that DESIGN.md
// section 10 fixes are known here already, so configs written for them load today.
const std::map<std::string, Kind>& schema() {
  static const std::map<std::string, Kind> kSchema = {
      {"node", Kind::kTable},
      {"node.name", Kind::kString},
      {"node.site", Kind::kString},
      {"node.region", Kind::kString},
      {"node.data_dir", Kind::kString},
      {"node.io_threads", Kind::kInteger},
      {"node.worker_threads", Kind::kInteger},
      {"log", Kind::kTable},
      {"log.level", Kind::kString},
      {"log.file", Kind::kString},
      {"tls", Kind::kTable},
      {"tls.cert", Kind::kString},
      {"tls.key", Kind::kString},
      {"http", Kind::kTable},
      {"http.listen", Kind::kString},
      {"http.admin_token_file", Kind::kString},
      {"smtp", Kind::kTable},
      {"smtp.listener", Kind::kTableArray},
      {"smtp.listener[].address", Kind::kString},
      {"smtp.listener[].mode", Kind::kString},
      {"smtp.max_message_size", Kind::kString},
      {"smtp.max_recipients", Kind::kInteger},
      {"smtp.max_connections", Kind::kInteger},
      {"smtp.max_connections_per_ip", Kind::kInteger},
      {"smtp.max_errors", Kind::kInteger},
      {"smtp.max_auth_failures", Kind::kInteger},
      {"smtp.max_auth_failures_per_ip", Kind::kInteger},
      {"smtp.auth_failure_window", Kind::kString},
      {"smtp.auth_cache_ttl", Kind::kString},
      {"smtp.command_timeout", Kind::kString},
      {"smtp.data_timeout", Kind::kString},
      {"smtp.tls_handshake_timeout", Kind::kString},
      {"smtp.shutdown_grace", Kind::kString},
      {"dns", Kind::kTable},
      {"dns.servers", Kind::kStringArray},
      {"delivery", Kind::kTable},
      {"delivery.route", Kind::kTableArray},
      {"delivery.route[].domain", Kind::kString},
      {"delivery.route[].relay", Kind::kString},
      {"delivery.policy", Kind::kTableArray},
      {"delivery.policy[].domain", Kind::kString},
      {"delivery.policy[].max_connections", Kind::kInteger},
      {"delivery.policy[].max_messages_per_connection", Kind::kInteger},
      {"delivery.policy[].max_recipients", Kind::kInteger},
      {"delivery.policy[].rate", Kind::kInteger},
      {"delivery.policy[].tls", Kind::kString},
      {"delivery.max_connections_per_site", Kind::kInteger},
      {"delivery.max_connections_per_source", Kind::kInteger},
      {"delivery.max_messages_per_connection", Kind::kInteger},
      {"delivery.max_recipients_per_transaction", Kind::kInteger},
      {"delivery.rate_per_site", Kind::kInteger},
      {"delivery.rate_per_source", Kind::kInteger},
      {"delivery.tls", Kind::kString},
      {"delivery.retry_schedule", Kind::kStringArray},
      {"delivery.retry_every", Kind::kString},
      {"delivery.max_age", Kind::kString},
      {"delivery.connect_timeout", Kind::kString},
      {"delivery.command_timeout", Kind::kString},
      {"delivery.data_timeout", Kind::kString},
      {"delivery.idle_connection", Kind::kString},
      {"delivery.paused", Kind::kBoolean},
      {"delivery.mx_port", Kind::kInteger},
      {"egress", Kind::kTable},
      {"egress.source", Kind::kTableArray},
      {"egress.source[].name", Kind::kString},
      {"egress.source[].address", Kind::kString},
      {"egress.source[].ehlo", Kind::kString},
      {"egress.pool", Kind::kTableArray},
      {"egress.pool[].name", Kind::kString},
      {"egress.pool[].sources", Kind::kStringArray},
      {"notifications", Kind::kTable},
      {"notifications.source_address", Kind::kString},
      {"notifications.allow_private_targets", Kind::kBoolean},
      {"account", Kind::kTableArray},
      {"account[].name", Kind::kString},
      {"account[].password", Kind::kString},
      {"account[].allow_ips", Kind::kStringArray},
      {"account[].pool", Kind::kString},
  };
  return kSchema;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kString:
      return "a string";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBoolean:
      return "true or false";
    case Kind::kStringArray:
      return "an array of strings";
    case Kind::kTable:
      return "a table";
    case Kind::kTableArray:
      return "an array of tables ([[...]])";
  }
  return "?";
}

tl::unexpected<Error> bad(const std::string& key, const std::string& what) {
  return make_error(ErrorCode::kConfig, key + ": " + what);
}

bool matches(const toml::node& node, Kind kind) {
  switch (kind) {
    case Kind::kString:
      return node.is_string();
    case Kind::kInteger:
      return node.is_integer();
    case Kind::kBoolean:
      return node.is_boolean();
    case Kind::kTable:
      return node.is_table();
    case Kind::kTableArray:
      return node.is_array_of_tables();
    case Kind::kStringArray: {
      const auto* arr = node.as_array();
      return arr != nullptr && (arr->empty() || arr->is_homogeneous(toml::node_type::string));
    }
  }
  return false;
}

// Walks the document: every key must be in the schema with the right type.
Result<void> check_keys(const toml::table& table, const std::string& prefix,
                        const std::string& shown_prefix) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const std::string shown =
        shown_prefix.empty() ? std::string(k.str()) : shown_prefix + "." + std::string(k.str());
    const auto it = schema().find(key);
    if (it == schema().end()) {
      return bad(shown, "unknown key");
    }
    if (!matches(node, it->second)) {
      return bad(shown, std::string("must be ") + kind_name(it->second));
    }
    if (it->second == Kind::kTable) {
      if (auto r = check_keys(*node.as_table(), key, shown); !r) {
        return r;
      }
    } else if (it->second == Kind::kTableArray) {
      std::size_t i = 0;
      for (const auto& element : *node.as_array()) {
        if (auto r = check_keys(*element.as_table(), key + "[]",
                                shown + "[" + std::to_string(i++) + "]");
            !r) {
          return r;
        }
      }
    }
  }
  return {};
}

template <typename T>
Result<void> read_count(const toml::table& t, const char* key, T& out, std::int64_t min,
                        std::int64_t max) {
  const auto v = t.at_path(key).value<std::int64_t>();
  if (!v) {
    return {};
  }
  if (*v < min || *v > max) {
    return bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  out = static_cast<T>(*v);
  return {};
}

Result<void> read_duration(const toml::table& t, const char* key, std::chrono::milliseconds& out) {
  const auto v = t.at_path(key).value<std::string>();
  if (!v) {
    return {};
  }
  auto d = parse_duration(*v);
  if (!d) {
    return bad(key, d.error().detail);
  }
  if (d->count() <= 0) {
    return bad(key, "must be positive");
  }
  out = *d;
  return {};
}

void read_string(const toml::table& t, const char* key, std::string& out) {
  if (auto v = t.at_path(key).value<std::string>()) {
    out = *v;
  }
}

Result<void> read_node(const toml::table& t, Config& c) {
  read_string(t, "node.name", c.node_name);
  read_string(t, "node.site", c.site);
  read_string(t, "node.region", c.region);
  read_string(t, "node.data_dir", c.data_dir);
  if (c.node_name.empty() || c.node_name.find_first_of(" \t\r\n") != std::string::npos) {
    return bad("node.name", "must be a host name without spaces");
  }
  if (c.data_dir.empty()) {
    return bad("node.data_dir", "must not be empty");
  }
  if (auto r = read_count(t, "node.io_threads", c.io_threads, 0, 256); !r)
    return r;
  if (auto r = read_count(t, "node.worker_threads", c.worker_threads, 1, 256); !r)
    return r;
  read_string(t, "log.level", c.log_level);
  read_string(t, "log.file", c.log_file);
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    return bad("log.level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  read_string(t, "tls.cert", c.tls_cert);
  read_string(t, "tls.key", c.tls_key);
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return bad(c.tls_cert.empty() ? "tls.cert" : "tls.key", "tls.cert and tls.key go together");
  }
  read_string(t, "http.listen", c.http_listen);
  if (auto hp = split_host_port(c.http_listen); !hp) {
    return bad("http.listen", hp.error().detail);
  }
  c.admin_token_file = c.data_dir + "/admin.token";
  read_string(t, "http.admin_token_file", c.admin_token_file);
  if (const auto* servers = t.at_path("dns.servers").as_array()) {
    for (const auto& server : *servers) {
      const std::string value = *server.value<std::string>();
      if (auto hp = split_host_port(value); !hp) {
        return bad("dns.servers", hp.error().detail);
      }
      c.dns_servers.push_back(value);
    }
  }
  return {};
}

Result<void> read_smtp(const toml::table& t, Config& c) {
  auto& s = c.smtp;
  s.hostname = c.node_name;
  if (const auto* listeners = t.at_path("smtp.listener").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *listeners) {
      const auto& l = *node.as_table();
      const std::string key = "smtp.listener[" + std::to_string(i++) + "]";
      smtp::ListenerOptions opts;
      const auto address = l["address"].value<std::string>();
      if (!address) {
        return bad(key + ".address", "is required (\"IP:PORT\")");
      }
      auto hp = split_host_port(*address);
      if (!hp) {
        return bad(key + ".address", hp.error().detail);
      }
      opts.address = hp->first;
      opts.port = hp->second;
      const std::string mode = l["mode"].value_or(std::string("submission"));
      if (mode == "relay") {
        opts.mode = smtp::ListenerMode::kRelay;
      } else if (mode == "submission") {
        opts.mode = smtp::ListenerMode::kSubmission;
      } else if (mode == "submissions") {
        opts.mode = smtp::ListenerMode::kSubmissions;
      } else {
        return bad(key + ".mode", "must be relay, submission or submissions");
      }
      s.listeners.push_back(opts);
    }
  }
  if (const auto size = t.at_path("smtp.max_message_size").value<std::string>()) {
    auto n = parse_size(*size);
    if (!n || *n < 1024 || *n > (1ULL << 30)) {
      return bad("smtp.max_message_size", "must be a size between 1KB and 1GB, like \"20MB\"");
    }
    s.max_message_size = *n;
  }
  constexpr std::int64_t kBig = 1'000'000;
  if (auto r = read_count(t, "smtp.max_recipients", s.max_recipients, 1, kBig); !r)
    return r;
  if (auto r = read_count(t, "smtp.max_connections", s.max_connections, 1, kBig); !r)
    return r;
  if (auto r = read_count(t, "smtp.max_connections_per_ip", s.max_connections_per_ip, 1, kBig); !r)
    return r;
  if (auto r = read_count(t, "smtp.max_errors", s.max_errors, 1, 1000); !r)
    return r;
  if (auto r = read_count(t, "smtp.max_auth_failures", s.max_auth_failures, 1, 1000); !r)
    return r;
  if (auto r = read_count(t, "smtp.max_auth_failures_per_ip", s.max_auth_failures_per_ip, 1, kBig);
      !r)
    return r;
  if (auto r = read_duration(t, "smtp.auth_failure_window", s.auth_failure_window); !r)
    return r;
  if (auto r = read_duration(t, "smtp.auth_cache_ttl", c.auth_cache_ttl); !r)
    return r;
  if (auto r = read_duration(t, "smtp.command_timeout", s.command_timeout); !r)
    return r;
  if (auto r = read_duration(t, "smtp.data_timeout", s.data_timeout); !r)
    return r;
  if (auto r = read_duration(t, "smtp.tls_handshake_timeout", s.tls_handshake_timeout); !r)
    return r;
  if (auto r = read_duration(t, "smtp.shutdown_grace", s.shutdown_grace); !r)
    return r;
  return {};
}

Result<void> read_accounts(const toml::table& t, Config& c) {
  const auto* accounts = t.at_path("account").as_array();
  if (accounts == nullptr) {
    return {};
  }
  std::size_t i = 0;
  for (const auto& node : *accounts) {
    const auto& a = *node.as_table();
    const std::string key = "account[" + std::to_string(i++) + "]";
    AccountSeed seed;
    seed.name = a["name"].value_or(std::string());
    seed.password = a["password"].value_or(std::string());
    seed.pool = a["pool"].value_or(std::string());
    if (seed.name.empty()) {
      return bad(key + ".name", "is required");
    }
    if (seed.password.size() < 8) {
      return bad(key + ".password", "is required, 8 characters or more");
    }
    if (const auto* ips = a["allow_ips"].as_array()) {
      for (const auto& ip : *ips) {
        auto cidr = net::Cidr::parse(*ip.value<std::string>());
        if (!cidr) {
          return bad(key + ".allow_ips", cidr.error().detail);
        }
        seed.allow_ips.push_back(*cidr);
      }
    }
    for (const auto& other : c.accounts) {
      if (other.name == seed.name) {
        return bad(key + ".name", "duplicate account '" + seed.name + "'");
      }
    }
    c.accounts.push_back(std::move(seed));
  }
  return {};
}

Result<smtp::Route> parse_relay(const std::string& key, std::string_view text) {
  // "HOST:PORT" where HOST may be a name (resolved at delivery) or an IP.
  const std::size_t colon = text.rfind(':');
  unsigned port = 0;
  if (colon == std::string_view::npos || colon == 0 ||
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec != std::errc() || port == 0 ||
      port > 65535) {
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
  if (auto r = read_count(t, "delivery.max_connections_per_site", d.max_connections_per_site, 1, kBig); !r) return r;
  if (auto r = read_count(t, "delivery.max_connections_per_source", d.max_connections_per_source, 1, kBig); !r) return r;
  if (auto r = read_count(t, "delivery.max_messages_per_connection", d.max_messages_per_connection, 1, kBig); !r) return r;
  if (auto r = read_count(t, "delivery.max_recipients_per_transaction", d.max_recipients_per_transaction, 1, 1000); !r) return r;
  if (auto r = read_count(t, "delivery.rate_per_site", d.rate_per_site, 0, kBig); !r) return r;
  if (auto r = read_count(t, "delivery.rate_per_source", d.rate_per_source, 0, kBig); !r) return r;
  if (const auto tls = t.at_path("delivery.tls").value<std::string>()) {
    auto mode = smtp::parse_tls_mode(*tls);
    if (!mode) {
      return bad("delivery.tls", mode.error().detail);
    }
    d.tls = *mode;
  }
  if (const auto* schedule = t.at_path("delivery.retry_schedule").as_array()) {
    d.retry.schedule.clear();
    for (const auto& step : *schedule) {
      auto v = parse_duration(*step.value<std::string>());
      if (!v || v->count() <= 0) {
        return bad("delivery.retry_schedule", "each step must be a positive duration like \"5m\"");
      }
      d.retry.schedule.push_back(*v);
    }
  }
  if (auto r = read_duration(t, "delivery.retry_every", d.retry.tail); !r) return r;
  if (auto r = read_duration(t, "delivery.max_age", d.retry.max_age); !r) return r;
  if (auto r = read_duration(t, "delivery.connect_timeout", d.client.connect_timeout); !r) return r;
  if (auto r = read_duration(t, "delivery.command_timeout", d.client.command_timeout); !r) return r;
  d.client.greeting_timeout = d.client.command_timeout;
  if (auto r = read_duration(t, "delivery.data_timeout", d.client.data_block_timeout); !r) return r;
  d.client.data_init_timeout = d.client.data_block_timeout;
  d.client.data_end_timeout = d.client.data_block_timeout * 3;
  if (auto r = read_duration(t, "delivery.idle_connection", d.idle_connection); !r) return r;
  d.paused = t.at_path("delivery.paused").value_or(false);
  if (auto r = read_count(t, "delivery.mx_port", d.mx_port, 1, 65535); !r) return r;
  return {};
}

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
      if (auto v = p["max_connections"].value<std::int64_t>()) policy.max_connections = static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      if (auto v = p["max_messages_per_connection"].value<std::int64_t>()) policy.max_messages_per_connection = static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      if (auto v = p["max_recipients"].value<std::int64_t>()) policy.max_recipients = static_cast<std::size_t>(std::max<std::int64_t>(*v, 1));
      if (auto v = p["rate"].value<std::int64_t>()) policy.rate = static_cast<double>(*v);
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

Result<void> read_egress(const toml::table& t, Config& c) {
  auto& d = c.delivery;
  if (const auto* sources = t.at_path("egress.source").as_array()) {
    d.sources.clear();
    std::size_t i = 0;
    for (const auto& node : *sources) {
      const auto& s = *node.as_table();
      const std::string key = "egress.source[" + std::to_string(i++) + "]";
      queue::EgressSource source{s["name"].value_or(std::string()), s["address"].value_or(std::string()),
                                 s["ehlo"].value_or(std::string())};
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
          if (std::none_of(d.sources.begin(), d.sources.end(), [&](const auto& s) { return s.name == member; })) {
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
  for (std::size_t i = 0; i < c.accounts.size(); ++i) {
    const auto& pool = c.accounts[i].pool;
    if (!pool.empty() && pool != "default" && !d.pools.contains(pool)) {
      return bad("account[" + std::to_string(i) + "].pool", "no [[egress.pool]] named '" + pool + "'");
    }
  }
  return {};
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (s.starts_with("[")) {
    const std::size_t close = s.find("]:");
    if (close == std::string_view::npos) {
      return make_error(ErrorCode::kConfig,
                        "expected \"[IPv6]:PORT\", got '" + std::string(s) + "'");
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return make_error(ErrorCode::kConfig, "expected \"IP:PORT\", got '" + std::string(s) + "'");
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return make_error(ErrorCode::kConfig, "bad port in '" + std::string(s) + "'");
  }
  std::array<std::uint8_t, 16> ip{};
  bool v4 = false;
  if (!net::parse_ip(host, ip, v4)) {
    return make_error(ErrorCode::kConfig, "'" + std::string(host) + "' is not an IP address");
  }
  return std::pair{std::string(host), static_cast<std::uint16_t>(value)};
}

Result<Config> parse_config(std::string_view text) {
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return make_error(ErrorCode::kConfig,
                      "line " + std::to_string(where.line) + ": " + std::string(e.description()));
  }
  if (auto r = check_keys(t, "", ""); !r) {
    return tl::unexpected(r.error());
  }
  Config c;
  if (auto r = read_node(t, c); !r)
    return tl::unexpected(r.error());
  if (auto r = read_smtp(t, c); !r)
    return tl::unexpected(r.error());
  if (auto r = read_accounts(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_delivery_limits(t, c.delivery); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_delivery_tables(t, c.delivery); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_egress(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (c.io_threads == 0) {
    c.io_threads = std::max(1U, std::thread::hardware_concurrency());
  }
  return c;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kConfig, "cannot read '" + path + "'");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str());
}

}  // namespace txmail::app
