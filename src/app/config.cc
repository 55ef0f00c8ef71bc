#include "app/config.h"

#include <toml++/toml.h>

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "app/config_parse.h"
#include "common/duration.h"
#include "dns/resolver.h"

namespace txmail::app {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the file's own helpers

enum class Kind { kString, kInteger, kBoolean, kStringArray, kTable, kTableArray };

// Every key txmail knows: "[]" marks an array of tables. Keys of later subsystems that DESIGN.md
// section 10 fixes are known here already, so configs written for them load today.
// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
const std::map<std::string, Kind>& schema() {
  static const std::map<std::string, Kind> kSchema = {
      {"node", Kind::kTable},
      {"node.name", Kind::kString},
      {"node.site", Kind::kString},
      {"node.region", Kind::kString},
      {"node.data_dir", Kind::kString},
      {"node.min_free_space", Kind::kString},
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
      {"smtp.max_auth_failures_per_user", Kind::kInteger},
      {"smtp.auth_failure_window", Kind::kString},
      {"smtp.auth_cache_ttl", Kind::kString},
      {"smtp.command_timeout", Kind::kString},
      {"smtp.data_timeout", Kind::kString},
      {"smtp.session_timeout", Kind::kString},
      {"smtp.min_data_rate", Kind::kInteger},
      {"smtp.tls_handshake_timeout", Kind::kString},
      {"smtp.shutdown_grace", Kind::kString},
      {"smtp.inflow_delay", Kind::kString},
      {"smtp.inflow_backlog", Kind::kInteger},
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
      {"delivery.max_dns_lookups", Kind::kInteger},
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
      {"egress.source[].site", Kind::kString},
      {"egress.pool", Kind::kTableArray},
      {"egress.pool[].name", Kind::kString},
      {"egress.pool[].sources", Kind::kStringArray},
      {"bounces", Kind::kTable},
      {"bounces.domain", Kind::kString},
      {"bounces.mx", Kind::kString},
      {"bounces.feedback_address", Kind::kString},
      {"bounces.unsubscribe_url", Kind::kString},
      {"bounces.kept_messages", Kind::kInteger},
      {"bounces.kept_bytes", Kind::kString},
      {"notifications", Kind::kTable},
      {"notifications.source_address", Kind::kString},
      {"notifications.source", Kind::kTableArray},
      {"notifications.source[].site", Kind::kString},
      {"notifications.source[].address", Kind::kString},
      {"cluster", Kind::kTable},
      {"cluster.nats", Kind::kStringArray},
      {"cluster.credentials", Kind::kString},
      {"cluster.ca_file", Kind::kString},
      {"cluster.master_key_file", Kind::kString},
      {"cluster.home_domain", Kind::kString},
      {"cluster.on_quorum_loss", Kind::kString},
      {"cluster.replicas", Kind::kInteger},
      {"cluster.quorum_grace", Kind::kString},
      {"cluster.timeout", Kind::kString},
      {"cluster.sites", Kind::kStringArray},
      {"cluster.publish_timeout", Kind::kString},
      {"cluster.node_timeout", Kind::kString},
      {"notifications.allow_private_targets", Kind::kBoolean},
      {"notifications.retry_schedule", Kind::kStringArray},
      {"notifications.per_endpoint_connections", Kind::kInteger},
      {"notifications.timeout", Kind::kString},
      {"notifications.deferred_every", Kind::kInteger},
      {"notifications.read_interval", Kind::kString},
      {"events", Kind::kTable},
      {"events.retention", Kind::kString},
      {"sandbox", Kind::kTable},
      {"sandbox.max_messages", Kind::kInteger},
      {"sandbox.max_bytes", Kind::kInteger},
      {"dkim", Kind::kTable},
      {"dkim.master_key_file", Kind::kString},
      {"dkim.master_key_env", Kind::kString},
      {"dkim.rsa_bits", Kind::kInteger},
      {"dkim.ed25519", Kind::kBoolean},
      {"dkim.rotation_grace", Kind::kString},
      {"dkim.verify_interval", Kind::kString},
      {"publish", Kind::kTable},
      {"publish.zone", Kind::kString},
      {"publish.nameservers", Kind::kStringArray},
      {"publish.hostmaster", Kind::kString},
      {"publish.ttl", Kind::kString},
      {"publish.extra_egress", Kind::kStringArray},
      {"publish.endpoint", Kind::kTableArray},
      {"publish.endpoint[].name", Kind::kString},
      {"publish.endpoint[].addresses", Kind::kStringArray},
      {"account", Kind::kTableArray},
      {"account[].name", Kind::kString},
      {"account[].password", Kind::kString},
      {"account[].allow_ips", Kind::kStringArray},
      {"account[].pool", Kind::kString},
      {"account[].allow_unverified_domains", Kind::kBoolean},
      {"account[].sandbox", Kind::kBoolean},
      {"account[].unsubscribe", Kind::kBoolean},
      {"account[].api_allow_ips", Kind::kStringArray},
      {"account[].hourly_limit", Kind::kInteger},
      {"http.listen_tls", Kind::kString},
      {"http.max_connections", Kind::kInteger},
      {"http.max_connections_per_ip", Kind::kInteger},
      {"http.header_timeout", Kind::kString},
      {"http.trusted_proxies", Kind::kStringArray},
      {"http.max_body", Kind::kInteger},
      {"http.idle_timeout", Kind::kString},
      {"suppression", Kind::kTable},
      {"suppression.scope", Kind::kString},
      {"suppression.no_such_user_ttl", Kind::kString},
      {"suppression.other_ttl", Kind::kString},
      {"suppression.full_mailbox_ttl", Kind::kString},
      {"suppression.complaint_ttl", Kind::kString},
      {"suppression.unsubscribe_ttl", Kind::kString},
      {"suppression.forbidden_local_parts", Kind::kStringArray},
      {"api", Kind::kTable},
      {"api.hourly_limit", Kind::kInteger},
      {"api.max_recipients", Kind::kInteger},
      {"api.max_message_size", Kind::kInteger},
      {"api.max_job_size", Kind::kInteger},
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

// [http]
Result<void> read_http(const toml::table& t, Config& c) {
  read_string(t, "http.listen", c.http_listen);
  if (auto hp = split_host_port(c.http_listen); !hp && !c.http_listen.empty()) {
    return bad("http.listen", hp.error().detail);
  }
  read_string(t, "http.listen_tls", c.http_listen_tls);
  if (!c.http_listen_tls.empty()) {
    if (auto hp = split_host_port(c.http_listen_tls); !hp) {
      return bad("http.listen_tls", hp.error().detail);
    }
    if (c.tls_cert.empty()) {
      return bad("http.listen_tls", "HTTPS needs [tls] cert and key");
    }
  }
  if (auto r = read_count(t, "http.max_connections", c.http_max_connections, 1, 1'000'000); !r) {
    return r;
  }
  if (auto r = read_count(t, "http.max_body", c.http_max_body, 1024, 1LL << 31); !r) {
    return r;
  }
  if (auto r =
          read_count(t, "http.max_connections_per_ip", c.http_max_connections_per_ip, 1, 1'000'000);
      !r) {
    return r;
  }
  if (auto r = read_duration(t, "http.header_timeout", c.http_header_timeout); !r) {
    return r;
  }
  if (const auto* proxies = t.at_path("http.trusted_proxies").as_array()) {
    for (const auto& p : *proxies) {
      const auto text = p.value<std::string>();
      auto cidr = text ? net::Cidr::parse(*text) : make_error(ErrorCode::kConfig, "not a string");
      if (!cidr) {
        return bad("http.trusted_proxies",
                   "'" + text.value_or("?") + "' is not an address or CIDR range");
      }
      c.http_trusted_proxies.push_back(*cidr);
    }
  }
  if (auto r = read_duration(t, "http.idle_timeout", c.http_idle_timeout); !r) {
    return r;
  }
  return {};
}

// [events], [sandbox] and [suppression]
Result<void> read_retention(const toml::table& t, Config& c) {
  if (auto r = read_duration(t, "events.retention", c.event_retention); !r) {
    return r;
  }
  if (auto r = read_count(t, "sandbox.max_messages", c.sandbox.max_messages, 1, 10'000'000); !r) {
    return r;
  }
  if (auto r = read_count(t, "sandbox.max_bytes", c.sandbox.max_bytes, 1 << 20, 1LL << 40); !r) {
    return r;
  }
  std::string scope = "account";
  read_string(t, "suppression.scope", scope);
  if (scope != "account" && scope != "global") {
    return bad("suppression.scope", R"(must be "account" or "global")");
  }
  c.suppression.global = scope == "global";
  if (auto r = read_duration(t, "suppression.no_such_user_ttl", c.suppression.no_such_user); !r) {
    return r;
  }
  if (auto r = read_duration(t, "suppression.other_ttl", c.suppression.other_permanent); !r) {
    return r;
  }
  if (auto r = read_duration(t, "suppression.full_mailbox_ttl", c.suppression.full_mailbox); !r) {
    return r;
  }
  if (auto r = read_duration(t, "suppression.complaint_ttl", c.suppression.complaint); !r) {
    return r;
  }
  if (auto r = read_duration(t, "suppression.unsubscribe_ttl", c.suppression.unsubscribe); !r) {
    return r;
  }
  if (const auto* parts = t.at_path("suppression.forbidden_local_parts").as_array()) {
    for (const auto& p : *parts) {
      std::string local = *p.value<std::string>();
      if (local.empty() || local.find('@') != std::string::npos) {
        return bad("suppression.forbidden_local_parts", "'" + local + "' is not a local part");
      }
      c.suppression.forbidden_local_parts.push_back(tenancy::lower_address(local));
    }
  }
  return {};
}

// [notifications]
Result<void> read_notifications(const toml::table& t, Config& c) {
  read_string(t, "notifications.source_address", c.notify_source);
  if (!c.notify_source.empty()) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(c.notify_source, ec);
    if (ec) {
      return bad("notifications.source_address", "'" + c.notify_source + "' is not an IP address");
    }
  }
  if (const auto* list = t.at_path("notifications.source").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *list) {
      const auto& e = *node.as_table();
      const std::string key = "notifications.source[" + std::to_string(i++) + "]";
      SiteAddress a{e["site"].value_or(std::string()), e["address"].value_or(std::string())};
      boost::system::error_code ec;
      boost::asio::ip::make_address(a.address, ec);
      if (a.site.empty()) {
        return bad(key + ".site", "is required");
      }
      if (ec) {
        return bad(key + ".address", "'" + a.address + "' is not an IP address");
      }
      if (a.site == c.site) {
        if (!c.notify_source.empty()) {
          return bad(key + ".site",
                     "site '" + a.site + "' already has a notification source address");
        }
        c.notify_source = a.address;
      }
      c.notify_sources.push_back(a);
    }
  } else if (!c.notify_source.empty()) {
    c.notify_sources.push_back(SiteAddress{c.site, c.notify_source});
  }
  c.notify_allow_private = t.at_path("notifications.allow_private_targets").value_or(false);
  if (auto r = read_durations(t, "notifications.retry_schedule", c.notify_retry_schedule); !r) {
    return r;
  }
  if (auto r =
          read_count(t, "notifications.per_endpoint_connections", c.notify_per_endpoint, 1, 64);
      !r) {
    return r;
  }
  if (auto r = read_duration(t, "notifications.timeout", c.notify_timeout); !r) {
    return r;
  }
  if (c.notify_timeout.count() <= 0 || c.notify_timeout > std::chrono::minutes(10)) {
    return bad("notifications.timeout", "must be more than 0s and at most 10m");
  }
  if (auto r = read_count(t, "notifications.deferred_every", c.deferred_every, 0, 1000); !r) {
    return r;
  }
  if (auto r = read_duration(t, "notifications.read_interval", c.notify_read_interval); !r) {
    return r;
  }
  if (c.notify_read_interval < std::chrono::milliseconds(10)
      || c.notify_read_interval > std::chrono::minutes(1)) {
    return bad("notifications.read_interval", "must be at least 10ms and at most 1m");
  }
  return read_retention(t, c);
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
  if (auto r = read_count(t, "node.io_threads", c.io_threads, 0, 256); !r) {
    return r;
  }
  if (const auto size = t.at_path("node.min_free_space").value<std::string>()) {
    auto n = parse_size(*size);
    if (!n || *n > (1ULL << 40)) {
      return bad("node.min_free_space", "must be a size like \"64MiB\" (0 turns the check off)");
    }
    c.min_free_space = *n;
  } else if (t.at_path("node.min_free_space")) {
    return bad("node.min_free_space", "must be a size in a string, like \"64MiB\"");
  }
  if (auto r = read_count(t, "node.worker_threads", c.worker_threads, 1, 256); !r) {
    return r;
  }
  read_string(t, "log.level", c.log_level);
  read_string(t, "log.file", c.log_file);
  static const char* const kLevels[] = {"trace", "debug",    "info", "warn",
                                        "error", "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    return bad("log.level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  read_string(t, "tls.cert", c.tls_cert);
  read_string(t, "tls.key", c.tls_key);
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return bad(c.tls_cert.empty() ? "tls.cert" : "tls.key", "tls.cert and tls.key go together");
  }
  if (auto r = read_http(t, c); !r) {
    return r;
  }
  if (auto r = read_count(t, "api.hourly_limit", c.account_hourly_limit, 0, 1LL << 40); !r) {
    return r;
  }
  if (auto r = read_notifications(t, c); !r) {
    return r;
  }
  if (auto r = read_count(t, "api.max_recipients", c.max_job_recipients, 1, 100'000); !r) {
    return r;
  }
  if (auto r = read_count(t, "api.max_message_size", c.max_message_bytes, 1024, 1LL << 31); !r) {
    return r;
  }
  if (auto r = read_count(t, "api.max_job_size", c.max_job_bytes, 1024, 1LL << 36); !r) {
    return r;
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

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
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
      } else if (mode == "inbound") {
        opts.mode = smtp::ListenerMode::kInbound;
      } else {
        return bad(key + ".mode", "must be relay, submission, submissions or inbound");
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
  if (const auto delay = t.at_path("smtp.inflow_delay").value<std::string>()) {
    auto d = parse_duration(*delay);
    if (!d || d->count() < 0 || *d > std::chrono::seconds(60)) {
      return bad("smtp.inflow_delay", R"(must be a duration from "0s" (off) to "60s")");
    }
    s.inflow_delay = *d;
  }
  if (auto r = read_count(t, "smtp.inflow_backlog", s.inflow_backlog, 1, kBig); !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_recipients", s.max_recipients, 1, kBig); !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_connections", s.max_connections, 1, kBig); !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_connections_per_ip", s.max_connections_per_ip, 1, kBig);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_errors", s.max_errors, 1, 1000); !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_auth_failures", s.max_auth_failures, 1, 1000); !r) {
    return r;
  }
  if (auto r =
          read_count(t, "smtp.max_auth_failures_per_user", s.max_auth_failures_per_user, 1, kBig);
      !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.max_auth_failures_per_ip", s.max_auth_failures_per_ip, 1, kBig);
      !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.auth_failure_window", s.auth_failure_window); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.auth_cache_ttl", c.auth_cache_ttl); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.command_timeout", s.command_timeout); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.data_timeout", s.data_timeout); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.session_timeout", s.session_timeout); !r) {
    return r;
  }
  if (auto r = read_count(t, "smtp.min_data_rate", s.min_data_rate, 1, 1LL << 30); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.tls_handshake_timeout", s.tls_handshake_timeout); !r) {
    return r;
  }
  if (auto r = read_duration(t, "smtp.shutdown_grace", s.shutdown_grace); !r) {
    return r;
  }
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
    tenancy::Account& account = seed.account;
    account.name = a["name"].value_or(std::string());
    seed.password = a["password"].value_or(std::string());
    account.pool = a["pool"].value_or(std::string());
    account.allow_unverified_domains = a["allow_unverified_domains"].value_or(false);
    account.sandbox = a["sandbox"].value_or(false);
    account.unsubscribe = a["unsubscribe"].value_or(false);
    account.hourly_limit = a["hourly_limit"].value_or(std::int64_t{-1});
    if (account.name.empty()) {
      return bad(key + ".name", "is required");
    }
    if (!tenancy::valid_account_name(account.name)) {
      return bad(key + ".name", "letters, digits and - _ . @ only, at most 64");
    }
    if (account.hourly_limit < -1) {
      return bad(key + ".hourly_limit", "must be 0 (no limit) or more");
    }
    if (seed.password.size() < 8) {
      return bad(key + ".password", "is required, 8 characters or more");
    }
    for (auto [field, out] : {std::pair{"allow_ips", &account.allow_ips},
                              std::pair{"api_allow_ips", &account.api_allow_ips}}) {
      if (const auto* ips = a[field].as_array()) {
        for (const auto& ip : *ips) {
          auto cidr = net::Cidr::parse(*ip.value<std::string>());
          if (!cidr) {
            return bad(key + "." + field, cidr.error().detail);
          }
          out->push_back(*cidr);
        }
      }
    }
    for (const auto& other : c.accounts) {
      if (other.account.name == account.name) {
        return bad(key + ".name", "duplicate account '" + account.name + "'");
      }
    }
    c.accounts.push_back(std::move(seed));
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
  if (auto r = read_bounces(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_node(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_smtp(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_accounts(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_delivery(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_dkim(t, c); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_cluster(t, c); !r) {
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
