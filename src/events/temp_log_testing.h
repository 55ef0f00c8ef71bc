// For tests: an event log file in the temp directory, removed (with its WAL) before and after.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace txmail::events {

struct TempLog {
  std::filesystem::path path;

  explicit TempLog(const std::string& name)
      : path(std::filesystem::temp_directory_path()
             / ("txmail-events-" + name + "-" + std::to_string(::getpid()) + ".db")) {
    remove();
  }

  ~TempLog() { remove(); }

  TempLog(const TempLog&) = delete;
  TempLog& operator=(const TempLog&) = delete;
  TempLog(TempLog&&) = delete;
  TempLog& operator=(TempLog&&) = delete;

  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path.string() + suffix);
    }
  }
};

}  // namespace txmail::events
