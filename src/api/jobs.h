// POST /v2/jobs (issue core-4, items 3 to 5): a JobRequest in, one MIME message per recipient
// block composed, DKIM-signed and spooled, 202 with the job id and each recipient's mail id.
#pragma once

#include "api/http.h"
#include "api/http_server.h"

namespace txmail::api {

class JobsApi {
 public:
  JobsApi() = default;
  JobsApi(const JobsApi&) = delete;
  JobsApi& operator=(const JobsApi&) = delete;
  JobsApi(JobsApi&&) = delete;
  JobsApi& operator=(JobsApi&&) = delete;
  virtual ~JobsApi() = default;

  // r.account is the authenticated account. Answers through done, from any thread.
  virtual void submit(Request r, HttpServer::Done done) = 0;
};

}  // namespace txmail::api
