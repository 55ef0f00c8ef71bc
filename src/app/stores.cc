#include "app/stores.h"

#include <filesystem>
#include <fstream>

#include "store/sqlite_config_store.h"

namespace txmail::app {

Result<cluster::ClusterOptions> cluster_options(const Config& config) {
  const auto& k = config.cluster;
  cluster::ClusterOptions o;
  o.nats = k.nats;
  o.ca_file = k.ca_file;
  o.home_domain = k.home_domain;
  o.node = config.node_name;
  o.site = config.site;
  o.region = config.region;
  o.replicas = k.replicas;
  o.quorum_grace = k.quorum_grace;
  o.timeout = k.timeout;
  o.sites = k.sites;
  o.publish_timeout = k.publish_timeout;
  o.node_timeout = k.node_timeout;
  o.local_on_quorum_loss = !k.refuse_on_quorum_loss;
  if (!k.credentials.empty()) {
    // A NATS credentials file (a user JWT and its NKey seed), or one line "user:password".
    std::ifstream in(k.credentials);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return make_error(ErrorCode::kConfig,
                        "cluster.credentials: cannot read '" + k.credentials + "'");
    }
    if (text.find("BEGIN NATS USER JWT") != std::string::npos) {
      o.creds_file = k.credentials;
    } else {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.pop_back();
      }
      const auto colon = text.find(':');
      if (colon == std::string::npos || colon == 0 || text.find('\n') != std::string::npos) {
        return make_error(ErrorCode::kConfig,
                          "cluster.credentials: '" + k.credentials
                              + "' holds neither a NATS creds file nor one line user:password");
      }
      o.user = text.substr(0, colon);
      o.password = text.substr(colon + 1);
    }
  }
  return o;
}

Result<ConfigBackend> ConfigBackend::open(const Config& config, bool serving) {
  ConfigBackend b;
  if (!config.cluster.enabled()) {
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    auto s = store::SqliteConfigStore::open(config.data_dir + "/config.db");
    if (!s) {
      return tl::unexpected(s.error());
    }
    b.embedded_ = std::move(*s);
    return b;
  }
  auto options = cluster_options(config);
  if (!options) {
    return tl::unexpected(options.error());
  }
  options->heartbeat = serving;
  auto node = cluster::ClusterNode::join(*options);
  if (!node) {
    return tl::unexpected(node.error());
  }
  b.cluster_ = std::move(*node);
  return b;
}

std::optional<std::string> ConfigBackend::unready_reason() const {
  return cluster_ ? cluster_->unready_reason() : std::nullopt;
}

void ConfigBackend::leave() {
  if (cluster_) {
    cluster_->leave();
  }
}

}  // namespace txmail::app
