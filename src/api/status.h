// The status API (issue core-4, item 6), read from the event log:
//   GET /v2/jobs/{jobId}       the job's summary and each recipient's current state
//   GET /v2/messages/{mailId}  every event of one recipient
// Another account's job or message answers 404, exactly as one that does not exist.
#pragma once

#include <string>

#include "api/http.h"
#include "events/event_log.h"

namespace txmail::api {

class StatusApi {
 public:
  explicit StatusApi(events::EventLog& log) : log_(log) {}

  // account: the caller's; "" for the operator (sees every account's jobs).
  Response job(const std::string& job_id, const std::string& account);
  Response message(const std::string& mail_id, const std::string& account);

 private:
  events::EventLog& log_;
};

// The state a recipient is in after this event: ACCEPTED, DEFERRED, DELIVERED, BOUNCED, DROPPED.
const char* recipient_status(events::Kind kind);

}  // namespace txmail::api
