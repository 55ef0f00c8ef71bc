#include "store/rocks_log.h"

#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/log.h"

namespace txmail::store {

namespace {

spdlog::level::level_enum level_of(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::DEBUG_LEVEL:
    case rocksdb::InfoLogLevel::INFO_LEVEL:
    case rocksdb::InfoLogLevel::HEADER_LEVEL:
      return spdlog::level::debug;
    case rocksdb::InfoLogLevel::WARN_LEVEL:
      return spdlog::level::warn;
    case rocksdb::InfoLogLevel::ERROR_LEVEL:
      return spdlog::level::err;
    case rocksdb::InfoLogLevel::FATAL_LEVEL:
    case rocksdb::InfoLogLevel::NUM_INFO_LOG_LEVELS:
      break;
  }
  return spdlog::level::critical;
}

class RocksLogger final : public rocksdb::Logger {
 public:
  // Follows txmail's log level as it is now (RocksDB asks before each line).
  rocksdb::InfoLogLevel GetInfoLogLevel() const override {
    return logger()->should_log(spdlog::level::debug) ? rocksdb::InfoLogLevel::INFO_LEVEL
                                                      : rocksdb::InfoLogLevel::WARN_LEVEL;
  }

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  // RocksDB must never see an exception: a line that cannot be written is dropped.
  void Logv(rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) {
      return;
    }
    try {
      va_list size_args;
      va_copy(size_args, ap);
      // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): copied from RocksDB's own list
      const int size = std::vsnprintf(nullptr, 0, format, size_args);
      va_end(size_args);
      if (size <= 0) {
        return;
      }
      std::string line(static_cast<std::size_t>(size) + 1, '\0');
      std::vsnprintf(line.data(), line.size(), format, ap);
      line.resize(static_cast<std::size_t>(size));
      logger()->log(level_of(level), "rocksdb: {}", printable_line(line));
    } catch (...) {  // NOLINT(bugprone-empty-catch): see above
    }
  }

 private:
  // RocksDB's lines may hold newlines (statistics dumps): one log line each.
  static std::string printable_line(std::string line) {
    for (char& c : line) {
      if (c == '\n' || c == '\r') {
        c = ' ';
      }
    }
    return line;
  }
};

}  // namespace

// One for the process, never freed while it runs: a DB's destruction does not delete it under
// RocksDB's background threads (whose ordering TSan cannot see: scripts/tsan.supp).
std::shared_ptr<rocksdb::Logger> make_rocks_logger() {
  static const std::shared_ptr<rocksdb::Logger> kInstance = std::make_shared<RocksLogger>();
  return kInstance;
}

}  // namespace txmail::store
