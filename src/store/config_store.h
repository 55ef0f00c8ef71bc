// The config store: a key-value store with revisions and watches (DESIGN.md section 4). It
// holds accounts, hashed credentials, sender domains, keys and the rest of what every node of a
// deployment must agree on. Embedded backend: SqliteConfigStore; cluster: JetStream KV.
//
// Every write bumps one store-wide revision; put() and erase() can be made conditional on the
// key's current revision (compare-and-set). Watchers of a key prefix hear each committed change
// once, in revision order, on the writer's thread. Calls may block on disk: not for I/O threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace txmail::store {

struct ConfigEntry {
  std::string key;
  std::string value;
  std::uint64_t revision = 0;
};

struct ConfigChange {
  std::string key;
  std::optional<std::string> value;  // nullopt: erased
  std::uint64_t revision = 0;
};

// Conditions for writes: any revision, must not exist yet, or must be at this revision.
struct Expect {
  enum class Kind { kAny, kAbsent, kRevision } kind = Kind::kAny;
  std::uint64_t revision = 0;

  static Expect any() { return {}; }

  static Expect absent() { return {Kind::kAbsent, 0}; }

  static Expect at(std::uint64_t r) { return {Kind::kRevision, r}; }
};

class ConfigStore {
 public:
  using WatchFn = std::function<void(const ConfigChange&)>;

  ConfigStore() = default;
  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;
  ConfigStore(ConfigStore&&) = delete;
  ConfigStore& operator=(ConfigStore&&) = delete;
  virtual ~ConfigStore() = default;

  virtual Result<std::optional<ConfigEntry>> get(std::string_view key) = 0;
  virtual Result<std::vector<ConfigEntry>> list(std::string_view prefix) = 0;
  // Returns the new revision; kConflict when the expectation does not hold.
  virtual Result<std::uint64_t> put(std::string_view key, std::string_view value,
                                    Expect expect) = 0;
  virtual Result<std::uint64_t> erase(std::string_view key, Expect expect) = 0;
  virtual std::uint64_t watch(std::string prefix, WatchFn fn) = 0;
  virtual void unwatch(std::uint64_t id) = 0;

  // Tells the watchers about changes another process made (the embedded store is one file
  // the administration commands also write); returns how many. Cheap when nothing changed.
  virtual Result<std::size_t> refresh() { return std::size_t{0}; }
};

}  // namespace txmail::store
