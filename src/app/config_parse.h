// Helpers shared by the files that read the configuration (config.cc, config_delivery.cc).
// Internal to the app module.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <string>

#include "app/config.h"
#include "common/duration.h"

namespace txmail::app::detail {

inline tl::unexpected<Error> bad(const std::string& key, const std::string& what) {
  return make_error(ErrorCode::kConfig, key + ": " + what);
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

inline Result<void> read_duration(const toml::table& t, const char* key,
                                  std::chrono::milliseconds& out) {
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

// A list of positive durations (retry schedules); `out` is replaced only when the key is set.
inline Result<void> read_durations(const toml::table& t, const char* key,
                                   std::vector<std::chrono::milliseconds>& out) {
  const auto* list = t.at_path(key).as_array();
  if (list == nullptr) {
    return {};
  }
  out.clear();
  for (const auto& step : *list) {
    auto v = parse_duration(*step.value<std::string>());
    if (!v || v->count() <= 0) {
      return bad(key, "each step must be a positive duration like \"5m\"");
    }
    out.push_back(*v);
  }
  return {};
}

inline void read_string(const toml::table& t, const char* key, std::string& out) {
  if (auto v = t.at_path(key).value<std::string>()) {
    out = *v;
  }
}

// [delivery], [[delivery.route]], [[delivery.policy]], [[egress.source]], [[egress.pool]].
Result<void> read_delivery(const toml::table& t, Config& c);
// [cluster] (config_cluster.cc); after [node].
Result<void> read_cluster(const toml::table& t, Config& c);
// [dkim], [publish] (config_dkim.cc).
Result<void> read_dkim(const toml::table& t, Config& c);
// [bounces] (config_bounces.cc).
Result<void> read_bounces(const toml::table& t, Config& c);

}  // namespace txmail::app::detail
