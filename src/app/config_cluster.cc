// [cluster]: cluster mode on NATS JetStream (docs/cluster.md, DESIGN.md section 10).
#include <fstream>

#include "app/config_parse.h"

namespace txmail::app::detail {

namespace {

bool valid_nats_url(const std::string& url) {
  for (const char* scheme : {"nats://", "tls://"}) {
    if (url.starts_with(scheme)) {
      return split_host_port(url.substr(std::string_view(scheme).size())).has_value();
    }
  }
  return false;
}

// A JetStream domain and a site's name are NATS subject tokens: letters, digits, '-' and '_'.
bool valid_token(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

// The replicated spool's keys (issue site-2).
Result<void> read_spool_keys(const toml::table& t, ClusterConfig& k) {
  if (auto r = read_duration(t, "cluster.publish_timeout", k.publish_timeout); !r) {
    return r;
  }
  // Within the stream's duplicate window (2 minutes), so that a job sent again is stored once.
  if (k.publish_timeout < std::chrono::seconds(1) || k.publish_timeout > std::chrono::seconds(60)) {
    return bad("cluster.publish_timeout", "must be from 1s to 60s");
  }
  if (auto r = read_duration(t, "cluster.node_timeout", k.node_timeout); !r) {
    return r;
  }
  if (k.node_timeout < std::chrono::seconds(3) || k.node_timeout > std::chrono::minutes(5)) {
    return bad("cluster.node_timeout", "must be from 3s to 5m");
  }
  if (const auto* list = t.at_path("cluster.sites").as_array()) {
    for (const auto& node : *list) {
      const std::string site = *node.value<std::string>();
      if (!valid_token(site)) {
        return bad("cluster.sites", "'" + site + "' is not a site name (letters, digits, - and _)");
      }
      if (std::find(k.sites.begin(), k.sites.end(), site) != k.sites.end()) {
        return bad("cluster.sites", "names '" + site + "' twice");
      }
      k.sites.push_back(site);
    }
  }
  return {};
}

}  // namespace

Result<void> read_cluster(const toml::table& t, Config& c) {
  auto& k = c.cluster;
  if (const auto* list = t.at_path("cluster.nats").as_array()) {
    for (const auto& node : *list) {
      const std::string url = *node.value<std::string>();
      if (!valid_nats_url(url)) {
        return bad("cluster.nats", "'" + url + "' is not a URL like nats://HOST:PORT");
      }
      k.nats.push_back(url);
    }
  }
  read_string(t, "cluster.credentials", k.credentials);
  read_string(t, "cluster.ca_file", k.ca_file);
  read_string(t, "cluster.master_key_file", k.master_key_file);
  read_string(t, "cluster.home_domain", k.home_domain);
  std::string on_loss = "refuse";
  read_string(t, "cluster.on_quorum_loss", on_loss);
  if (on_loss != "refuse" && on_loss != "local") {
    return bad("cluster.on_quorum_loss", R"(must be "refuse" or "local")");
  }
  k.refuse_on_quorum_loss = on_loss == "refuse";
  if (auto r = read_count(t, "cluster.replicas", k.replicas, 1, 5); !r) {
    return r;
  }
  if (auto r = read_duration(t, "cluster.quorum_grace", k.quorum_grace); !r) {
    return r;
  }
  if (auto r = read_duration(t, "cluster.timeout", k.timeout); !r) {
    return r;
  }
  if (auto r = read_spool_keys(t, k); !r) {
    return r;
  }
  const bool any = t.at_path("cluster").is_table() && !t.at_path("cluster").as_table()->empty();
  if (!k.enabled()) {
    return any ? bad("cluster.nats", "is required in cluster mode (the region's NATS servers)")
               : Result<void>{};
  }
  if (k.master_key_file.empty()) {
    return bad(
        "cluster.master_key_file",
        "is required in cluster mode (the same file on every node; txmail cluster keygen FILE)");
  }
  if (t.at_path("dkim.master_key_file").is_string()
      || t.at_path("dkim.master_key_env").is_string()) {
    return bad("dkim.master_key_file",
               "cluster mode seals with cluster.master_key_file; remove the [dkim] master key");
  }
  if (c.site == "local" || !valid_token(c.site)) {
    return bad("node.site",
               "cluster mode needs this node's site, like \"a\" (letters, digits, - and _)");
  }
  if (k.sites.empty()) {
    k.sites.push_back(c.site);
  } else if (std::find(k.sites.begin(), k.sites.end(), c.site) == k.sites.end()) {
    return bad("cluster.sites", "must name this node's site '" + c.site + "'");
  }
  if (c.region == "local" || !valid_token(c.region)) {
    return bad("node.region", "cluster mode needs this node's region, like \"eu1\"");
  }
  if (c.node_name == "localhost") {
    return bad("node.name", "cluster mode needs a name that is unique in the region");
  }
  if (!k.home_domain.empty() && !valid_token(k.home_domain)) {
    return bad("cluster.home_domain", "must be a JetStream domain name (letters, digits, - and _)");
  }
  if (!k.credentials.empty() && !std::ifstream(k.credentials)) {
    return bad("cluster.credentials", "cannot read '" + k.credentials + "'");
  }
  if (!k.ca_file.empty() && !std::ifstream(k.ca_file)) {
    return bad("cluster.ca_file", "cannot read '" + k.ca_file + "'");
  }
  return {};
}

}  // namespace txmail::app::detail
