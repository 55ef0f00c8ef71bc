// The data directory's manifest (issue harden-1, defect 3): which stores this node created, so
// that a later start notices one that went missing, empty or damaged instead of starting with
// its data silently gone (API-created accounts and DKIM keys with config.db, job status with
// events.db, every sealed secret with the master key).
//
// <data_dir>/manifest.json lists them; it is written after the stores opened. At start every
// listed store must be there, non-empty, and (SQLite files) pass PRAGMA quick_check. If one
// does not, the node refuses to start with one line naming it and what to do; with
// --accept-data-loss it starts anyway, logging each loss, and a damaged file is moved aside
// (<name>.damaged-<unix time>) so a fresh one is made.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace txmail::app {

struct DataStores {
  std::string data_dir;
  std::string master_key_file;  // "" when the key comes from the environment
};

// Checks the stores the manifest lists. Error: the first problem, with what to do. With
// accept_loss: every problem is logged, damaged files are moved aside, and it succeeds.
Result<void> check_data_dir(const DataStores& stores, bool accept_loss);

// Writes the manifest: every store that exists now.
Result<void> record_data_dir(const DataStores& stores);

}  // namespace txmail::app
