#include "app/search_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>

#include "api/message_search.h"
#include "api/request_target.h"
#include "common/duration.h"
#include "events/sqlite_event_log.h"

namespace txmail::app {

namespace {

std::string query_string(const SearchParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (value.empty()) {
      continue;
    }
    out += (out.empty() ? "" : "&") + name + "=" + api::percent_encode(value);
  }
  return out;
}

// The problem's detail on stderr: "txmail: since: not a time ...".
int refused(const api::Response& r) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(r.body, ec);
  const auto* detail = ec ? nullptr : doc.as_object().if_contains("detail");
  fmt::print(stderr, "txmail: {}\n", detail != nullptr ? std::string(detail->as_string()) : r.body);
  return r.status == 400 ? 2 : 1;
}

template <typename Run>
int with_log(const std::string& data_dir, Run run) {
  auto log = events::SqliteEventLog::open(data_dir + "/events.db",
                                          events::SqliteEventLog::Mode::kReadOnly);
  if (!log) {
    fmt::print(stderr, "txmail: {}\n", log.error().detail);
    return 1;
  }
  api::MessageSearchApi api(**log);
  return run(api);
}

}  // namespace

int messages_search(const std::string& data_dir, const SearchParams& params) {
  return with_log(data_dir, [&](api::MessageSearchApi& api) {
    const api::Response r = api.search(query_string(params), "");
    if (r.status != 200) {
      return refused(r);
    }
    fmt::print("{}\n", r.body);
    return 0;
  });
}

int report_deliveries(const std::string& data_dir, const SearchParams& params) {
  return with_log(data_dir, [&](api::MessageSearchApi& api) {
    api::Response r = api.deliveries(query_string(params), "", now_ms());
    if (r.status != 200 || !r.stream) {
      return refused(r);
    }
    for (;;) {
      auto piece = r.stream();
      if (!piece) {
        fmt::print(stderr, "txmail: {}\n", piece.error().detail);
        return 1;
      }
      if (piece->empty()) {
        return std::fflush(stdout) == 0 ? 0 : 1;
      }
      fmt::print("{}", *piece);
    }
  });
}

}  // namespace txmail::app
