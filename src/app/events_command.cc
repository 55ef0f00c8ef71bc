#include "app/events_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/idna.h"
#include "events/sqlite_event_log.h"

namespace txmail::app {

namespace {

void print(const std::vector<events::Event>& list) {
  for (const auto& e : list) {
    boost::json::object o = events::to_json(e);
    // The log keeps the A-label form (for matching); people read the U-label form.
    const std::string shown = idna::display_address(e.recipient);
    if (shown != e.recipient) {
      o["recipient"] = shown;
      o["recipient_a_label"] = e.recipient;
    }
    fmt::print("{}\n", boost::json::serialize(o));
  }
}

template <typename Lookup>
int run(const std::string& data_dir, Lookup lookup) {
  auto log = events::SqliteEventLog::open(data_dir + "/events.db",
                                          events::SqliteEventLog::Mode::kReadOnly);
  if (!log) {
    fmt::print(stderr, "txmail: {}\n", log.error().detail);
    return 1;
  }
  auto list = lookup(**log);
  if (!list) {
    fmt::print(stderr, "txmail: {}\n", list.error().detail);
    return 1;
  }
  print(*list);
  return 0;
}

}  // namespace

int events_for_job(const std::string& data_dir, const std::string& job_id) {
  return run(data_dir, [&](events::SqliteEventLog& log) { return log.for_job(job_id); });
}

int events_for_recipient(const std::string& data_dir, const std::string& address) {
  if (auto at = address.rfind('@'); at != std::string::npos) {
    if (auto valid = idna::to_ascii(address.substr(at + 1)); !valid) {
      fmt::print(stderr, "txmail: {}: {}\n", address, valid.error().detail);
      return 2;
    }
  }
  return run(data_dir, [&](events::SqliteEventLog& log) { return log.for_recipient(address); });
}

}  // namespace txmail::app
