#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace txmail {

namespace {
std::shared_ptr<spdlog::logger>& instance() {
  static std::shared_ptr<spdlog::logger> log = spdlog::stderr_logger_mt("txmail");
  return log;
}
}  // namespace

void init_logging(const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> log;
  if (file.empty()) {
    log = instance();
  } else {
    spdlog::drop("txmail");
    log = spdlog::basic_logger_mt("txmail", file);
    instance() = log;
  }
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(level));
  log->flush_on(spdlog::level::warn);
}

std::shared_ptr<spdlog::logger> logger() { return instance(); }

}  // namespace txmail
