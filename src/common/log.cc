#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace txmail {

namespace {
// txmail passes its logger around through logger(); it is registered with spdlog only so that
// spdlog's periodic flush covers it.
std::shared_ptr<spdlog::logger>& instance() {
  static std::shared_ptr<spdlog::logger> log =
      std::make_shared<spdlog::logger>("txmail", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  return log;
}
}  // namespace

void init_logging(const std::string& level, const std::string& file) {
  if (!file.empty()) {
    instance() = std::make_shared<spdlog::logger>(
        "txmail", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  }
  auto& log = instance();
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(level));
  log->flush_on(spdlog::level::warn);
  // Lines below warn reach the file within a second (spdlog flushes registered loggers).
  spdlog::drop("txmail");
  spdlog::register_logger(log);
  spdlog::flush_every(std::chrono::seconds(1));
}

std::shared_ptr<spdlog::logger> logger() {
  return instance();
}

std::string printable(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      c = '?';
    }
  }
  return out;
}

}  // namespace txmail
