// Message search and the deliveries report (issue console-1, item 1), read from the event
// log's message index (events/message_index.h):
//   GET /v2/messages?recipient=&sender=&status=&since=&until=&limit=&cursor=&account=
//       one page of messages (newest first) and the cursor of the next
//   GET /v2/reports/deliveries.csv?since=&until=&account=
//       one CSV row (RFC 4180) per message, oldest first, streamed a page at a time
// An account sees its own messages only; the operator (admin token) sees every account's, or
// one account's with account=. Every bad parameter is a 400 naming it. docs/api.md tells the
// rules; `txmail messages search` and `txmail report deliveries` call the same functions on the
// log's file.
#pragma once

#include <cstdint>
#include <string>

#include "api/http.h"
#include "events/message_index.h"

namespace txmail::api {

// The longest time range one deliveries report covers.
constexpr std::int64_t kReportMaxRangeMs = std::int64_t{31} * 24 * 3600 * 1000;

class MessageSearchApi {
 public:
  explicit MessageSearchApi(events::MessageSearch& log) : log_(log) {}

  // account: the caller's; "" for the operator. now_ms: the default end of a report.
  Response search(const std::string& query, const std::string& account);
  Response deliveries(const std::string& query, const std::string& account, std::int64_t now_ms);

 private:
  events::MessageSearch& log_;
};

// RFC 3339 ("2026-12-01T10:00:00Z", "2026-12-01T11:00:00.250+01:00") or unix milliseconds
// ("1764583200000") to unix milliseconds; nullopt when it is neither.
std::optional<std::int64_t> parse_time(std::string_view text);

// One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
std::string csv_field(std::string_view value);

}  // namespace txmail::api
