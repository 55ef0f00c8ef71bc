// `txmail cluster keygen|init|status`: provisioning and inspection of the region (docs/cluster.md).
#pragma once

#include <string>

#include "app/config.h"

namespace txmail::app {

int cluster_keygen(const std::string& path);
int cluster_init(const Config& config, bool dry_run);
int cluster_status(const Config& config, bool as_json);
// `txmail cluster takeover NODE [--to NODE2] [--force]`.
int cluster_takeover(const Config& config, const std::string& node, const std::string& to,
                     bool force);

}  // namespace txmail::app
