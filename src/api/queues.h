// The node's delivery queues, for the operator (issue console-1; queue/queue_view.h):
//   GET  /v2/admin/queues          the ready queues per destination site, the schedule per
//                                  domain, the pauses in force
//   POST /v2/admin/queues/pause    {"site"|"domain": NAME, "until": TIME?}
//   POST /v2/admin/queues/resume   {"site"|"domain": NAME}
//   POST /v2/admin/queues/retry    {"site"|"domain": NAME}
// Queues are the node's own (in cluster mode each node answers for its spool).
#pragma once

#include <string>

#include "api/http.h"
#include "api/http_server.h"

namespace txmail::queue {
class DeliveryEngine;
}

namespace txmail::api {

// Answers through `done`, on the engine's thread.
void queues_api(queue::DeliveryEngine& engine, const Request& r, const std::string& pattern,
                const HttpServer::Done& done);

}  // namespace txmail::api
