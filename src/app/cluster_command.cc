#include "app/cluster_command.h"

#include <fmt/format.h>

#include "app/stores.h"
#include "cluster/cluster.h"

namespace txmail::app {

namespace {

int failed(const std::string& why) {
  fmt::print(stderr, "txmail: {}\n", why);
  return 1;
}

Result<cluster::ClusterOptions> options_of(const Config& config) {
  if (!config.cluster.enabled()) {
    return make_error(ErrorCode::kConfig,
                      "cluster.nats: the configuration names no NATS server (not cluster mode)");
  }
  return cluster_options(config);
}

}  // namespace

int cluster_keygen(const std::string& path) {
  if (auto r = cluster::keygen(path); !r) {
    return failed(r.error().detail);
  }
  fmt::print(
      "cluster master key written to {} (mode 0600): copy it to every node of every site, "
      "and keep a copy offline\n",
      path);
  return 0;
}

int cluster_init(const Config& config, bool dry_run) {
  auto options = options_of(config);
  if (!options) {
    return failed(options.error().detail);
  }
  auto lines = cluster::provision(*options, dry_run);
  if (!lines) {
    return failed(lines.error().detail);
  }
  for (const auto& line : *lines) {
    fmt::print("{}\n", line);
  }
  return 0;
}

int cluster_status(const Config& config, bool as_json) {
  auto options = options_of(config);
  if (!options) {
    return failed(options.error().detail);
  }
  auto json = cluster::status_json(*options);
  if (!json) {
    return failed(json.error().detail);
  }
  fmt::print("{}\n", as_json ? *json : cluster::status_text(*json));
  return 0;
}

int cluster_takeover(const Config& config, const std::string& node, const std::string& to,
                     bool force) {
  auto options = options_of(config);
  if (!options) {
    return failed(options.error().detail);
  }
  auto lines = cluster::takeover(*options, node, to.empty() ? config.node_name : to, force);
  if (!lines) {
    return failed(lines.error().detail);
  }
  for (const auto& line : *lines) {
    fmt::print("{}\n", line);
  }
  return 0;
}

}  // namespace txmail::app
