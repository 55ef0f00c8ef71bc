// [dkim] and [publish]: signing keys' protection and policy, and the service's own DNS data.
#include "app/config_parse.h"

namespace txmail::app::detail {

Result<void> read_dkim(const toml::table& t, Config& c) {
  read_string(t, "dkim.master_key_file", c.master_key_file);
  read_string(t, "dkim.master_key_env", c.master_key_env);
  if (c.master_key_file.empty()) {
    c.master_key_file = c.data_dir + "/master.key";
  }
  if (auto r = read_count(t, "dkim.rsa_bits", c.domains.rsa_bits, dkim::kMinRsaBits, 8192); !r) {
    return r;
  }
  c.domains.ed25519 = t.at_path("dkim.ed25519").value_or(false);
  if (auto r = read_duration(t, "dkim.rotation_grace", c.domains.rotation_grace); !r) {
    return r;
  }
  if (auto r = read_duration(t, "dkim.verify_interval", c.domain_verify_interval); !r) {
    return r;
  }
  read_string(t, "publish.zone", c.domains.service_zone);
  auto zone = tenancy::normalize_domain(c.domains.service_zone);
  if (!zone) {
    return bad("publish.zone", "'" + c.domains.service_zone + "' is not a DNS name");
  }
  c.domains.service_zone = *zone;
  if (const auto* ns = t.at_path("publish.nameservers").as_array()) {
    for (const auto& n : *ns) {
      const std::string name = *n.value<std::string>();
      auto normalized = tenancy::normalize_domain(name);
      if (!normalized) {
        return bad("publish.nameservers", "'" + name + "' is not a DNS name");
      }
      c.publish.nameservers.push_back(*normalized);
    }
  }
  read_string(t, "publish.hostmaster", c.publish.hostmaster);
  std::chrono::milliseconds ttl = c.publish.ttl;
  if (auto r = read_duration(t, "publish.ttl", ttl); !r) {
    return r;
  }
  c.publish.ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  if (const auto* extra = t.at_path("publish.extra_egress").as_array()) {
    for (const auto& e : *extra) {
      auto cidr = net::Cidr::parse(*e.value<std::string>());
      if (!cidr) {
        return bad("publish.extra_egress", cidr.error().detail);
      }
      c.publish.extra_egress.push_back(*cidr);
    }
  }
  if (const auto* endpoints = t.at_path("publish.endpoint").as_array()) {
    std::size_t i = 0;
    for (const auto& node : *endpoints) {
      const auto& e = *node.as_table();
      const std::string key = "publish.endpoint[" + std::to_string(i++) + "]";
      PublishEndpoint ep;
      ep.name = e["name"].value_or(std::string());
      if (ep.name.empty() || ep.name.find_first_of(" \t;\"") != std::string::npos) {
        return bad(key + ".name", "is required: a name within the zone, like \"smtp.eu\"");
      }
      if (const auto* addresses = e["addresses"].as_array()) {
        for (const auto& a : *addresses) {
          const std::string addr = *a.value<std::string>();
          std::array<std::uint8_t, 16> ip{};
          bool v4 = false;
          if (!net::parse_ip(addr, ip, v4)) {
            return bad(key + ".addresses", "'" + addr + "' is not an IP address");
          }
          ep.addresses.push_back(addr);
        }
      }
      if (ep.addresses.empty()) {
        return bad(key + ".addresses", "needs at least one address");
      }
      c.publish.endpoints.push_back(std::move(ep));
    }
  }
  return {};
}

}  // namespace txmail::app::detail

namespace txmail::app {

Result<tenancy::MasterKey> load_master_key(const Config& config) {
  if (config.cluster.enabled()) {
    // Made once with `txmail cluster keygen`, copied to every node: never created here (a node
    // with a key of its own would seal what no other node can open).
    auto key = tenancy::MasterKey::from_file(config.cluster.master_key_file);
    if (!key) {
      return make_error(ErrorCode::kConfig, "cluster.master_key_file: " + key.error().detail);
    }
    return key;
  }
  auto key = config.master_key_env.empty()
                 ? tenancy::MasterKey::load_or_create(config.master_key_file)
                 : tenancy::MasterKey::from_env(config.master_key_env);
  if (!key) {
    return make_error(ErrorCode::kConfig, "dkim: " + key.error().detail);
  }
  return key;
}

}  // namespace txmail::app
