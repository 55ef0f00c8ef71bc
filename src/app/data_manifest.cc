#include "app/data_manifest.h"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/duration.h"
#include "common/log.h"

namespace txmail::app {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kSqliteStores[] = {"config.db", "events.db", "webhooks.db", "idempotency.db"};

std::string manifest_path(const DataStores& s) {
  return s.data_dir + "/manifest.json";
}

// "" when the SQLite file looks whole, else what is wrong with it.
std::string sqlite_problem(const std::string& path) {
  sqlite3* db = nullptr;
  std::string problem;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    problem = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
  } else {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, nullptr) != SQLITE_OK
        || sqlite3_step(st) != SQLITE_ROW) {
      problem = sqlite3_errmsg(db);
    } else {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      if (text == nullptr || std::string(text) != "ok") {
        problem = text != nullptr ? text : "quick_check failed";
      }
    }
    sqlite3_finalize(st);
    st = nullptr;
    // A file cut short (its write-ahead log gone with it) can pass quick_check as an empty
    // database: every store this node made has tables.
    if (problem.empty()
        && sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1,
                              &st, nullptr)
               == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0) {
      problem = "it holds no tables any more";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return problem;
}

struct Problem {
  std::string path;
  std::string what;  // "is missing", "is empty", "is damaged: ..."
  bool move_aside = false;
};

}  // namespace

Result<void> check_data_dir(const DataStores& stores, bool accept_loss) {
  std::ifstream in(manifest_path(stores));
  if (!in) {
    return {};  // a new data directory, or one from before the manifest: nothing to compare
  }
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  const auto v = json::parse(text.str(), ec);
  if (ec || !v.is_object() || !v.as_object().contains("stores")) {
    return make_error(ErrorCode::kConfig,
                      manifest_path(stores) + " is damaged: restore it, or remove it to skip the "
                      "check of the data directory once");
  }
  std::vector<Problem> problems;
  for (const auto& entry : v.at("stores").as_array()) {
    if (!entry.is_string()) {
      continue;
    }
    const std::string path(entry.as_string());
    std::error_code fec;
    if (!fs::exists(path, fec)) {
      problems.push_back({path, "is missing", false});
      continue;
    }
    if (fs::is_directory(path, fec)) {  // the spool: RocksDB's CURRENT names its manifest
      if (!fs::exists(path + "/CURRENT", fec) || fs::file_size(path + "/CURRENT", fec) == 0) {
        problems.push_back({path, "is damaged: its CURRENT file is missing or empty", true});
      }
      continue;
    }
    if (fs::file_size(path, fec) == 0) {
      problems.push_back({path, "is empty", true});
      continue;
    }
    if (path.ends_with(".db")) {
      if (auto p = sqlite_problem(path); !p.empty()) {
        problems.push_back({path, "is damaged: " + p, true});
      }
    }
  }
  if (problems.empty()) {
    return {};
  }
  if (!accept_loss) {
    const auto& p = problems.front();
    return make_error(ErrorCode::kConfig,
                      "data: " + p.path + " " + p.what + " (this node created it before; "
                          + std::to_string(problems.size())
                          + " store(s) affected): restore it from a backup, or start with "
                            "--accept-data-loss to continue without what it held");
  }
  for (const auto& p : problems) {
    logger()->error("data: {} {}: starting without what it held (--accept-data-loss)", p.path,
                    p.what);
    if (p.move_aside) {
      std::error_code fec;
      const std::string aside = p.path + ".damaged-" + std::to_string(now_ms() / 1000);
      fs::rename(p.path, aside, fec);
      if (fec) {
        return make_error(ErrorCode::kIo,
                          "data: cannot move " + p.path + " aside: " + fec.message());
      }
      for (const char* suffix : {"-wal", "-shm"}) {  // SQLite's companions, when there are any
        std::error_code ignored;
        if (fs::exists(p.path + suffix, ignored)) {
          fs::rename(p.path + suffix, aside + suffix, fec);
          if (fec) {
            return make_error(ErrorCode::kIo,
                              "data: cannot move " + p.path + suffix + " aside: " + fec.message());
          }
        }
      }
      logger()->error("data: the damaged {} is kept as {}", p.path, aside);
    }
  }
  return {};
}

Result<void> record_data_dir(const DataStores& stores) {
  json::array list;
  std::error_code fec;
  for (const char* name : kSqliteStores) {
    const std::string path = stores.data_dir + "/" + name;
    if (fs::exists(path, fec)) {
      list.emplace_back(path);
    }
  }
  if (fs::exists(stores.data_dir + "/spool/CURRENT", fec)) {
    list.emplace_back(stores.data_dir + "/spool");
  }
  if (!stores.master_key_file.empty() && fs::exists(stores.master_key_file, fec)) {
    list.emplace_back(stores.master_key_file);
  }
  const std::string path = manifest_path(stores);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json::serialize(json::object{{"version", 1}, {"stores", std::move(list)}}) << "\n";
    out.flush();
    if (!out) {
      return make_error(ErrorCode::kIo, "data: cannot write " + tmp);
    }
  }
  fs::rename(tmp, path, fec);
  if (fec) {
    return make_error(ErrorCode::kIo, "data: cannot write " + path + ": " + fec.message());
  }
  return {};
}

}  // namespace txmail::app
