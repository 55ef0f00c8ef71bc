#include "app/events_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "events/sqlite_event_log.h"

namespace txmail::app {

int events_for_job(const std::string& data_dir, const std::string& job_id) {
  auto log = events::SqliteEventLog::open(data_dir + "/events.db",
                                          events::SqliteEventLog::Mode::kReadOnly);
  if (!log) {
    fmt::print(stderr, "txmail: {}\n", log.error().detail);
    return 1;
  }
  auto list = (*log)->for_job(job_id);
  if (!list) {
    fmt::print(stderr, "txmail: {}\n", list.error().detail);
    return 1;
  }
  for (const auto& e : *list) {
    const boost::json::object o = events::to_json(e);
    fmt::print("{}\n", boost::json::serialize(o));
  }
  return 0;
}

}  // namespace txmail::app
