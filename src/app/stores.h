// The one factory of the config store's backend (issue site-1): the embedded SQLite file, or,
// when [cluster] nats is set, the region's JetStream bucket through a ClusterNode. serve() and
// the local commands reach the configuration only through store::ConfigStore.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "app/config.h"
#include "cluster/cluster.h"
#include "store/config_store.h"

namespace txmail::app {

class ConfigBackend {
 public:
  // `serving`: a node that takes traffic (it heartbeats in the region), not a command.
  static Result<ConfigBackend> open(const Config& config, bool serving);

  store::ConfigStore& store() { return cluster_ ? cluster_->config() : *embedded_; }

  bool clustered() const { return cluster_ != nullptr; }

  // Embedded: other processes (the local administration commands) write the same file, so
  // the node polls for their changes. The cluster store's watch needs no poll.
  bool needs_refresh() const { return embedded_ != nullptr; }

  // Why the region does not answer (cluster mode), or nullopt.
  std::optional<std::string> unready_reason() const;
  // A clean shutdown: the node leaves the region's list of nodes.
  void leave();

  // The node's membership of the region; null in embedded mode.
  cluster::ClusterNode* cluster_node() { return cluster_.get(); }

 private:
  std::unique_ptr<store::ConfigStore> embedded_;
  std::unique_ptr<cluster::ClusterNode> cluster_;
};

// [cluster] as the cluster module's options (NATS credentials read from their file).
Result<cluster::ClusterOptions> cluster_options(const Config& config);

}  // namespace txmail::app
