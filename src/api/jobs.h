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

#include <functional>
#include <memory>

#include "api/idempotency.h"
#include "api/job_limits.h"
#include "api/unsubscribe.h"
#include "common/histogram.h"
#include "events/event_log.h"
#include "store/spool.h"
#include "tenancy/account_directory.h"
#include "tenancy/dkim_keyring.h"
#include "tenancy/recipient_policy.h"
#include "tenancy/suppression.h"

namespace txmail::api {

struct JobsDeps {
  tenancy::AccountDirectory& accounts;
  const tenancy::DkimKeyring* keyring;  // null: nothing is signed
  store::Spool& spool;
  events::EventLog& events;
  Idempotency& idempotency;
  // Hands the job to delivery, which may take the record's message.
  std::function<void(store::SpoolRecord&)> on_spooled;
  const tenancy::RecipientPolicy* recipients = nullptr;  // null: nothing is dropped at intake
  std::string hostname;                                  // Message-ID and Received
  JobLimits limits;
  Histogram* ack_latency = nullptr;  // request read to 202, per accepted job
  // Seals a job's notification endpoint (it may hold credentials) for the event log.
  std::function<std::string(const std::string& plain, const std::string& context)> seal;
  // Cluster mode: each record carries the job's data (store::SpoolRecord::job_data), so that a
  // node that takes the job over notifies as this one would.
  bool job_data_in_spool = false;
  // One-click unsubscribe links for accounts that ask for them (api/unsubscribe.h); null: none.
  const Unsubscribes* unsubscribes = nullptr;
};

// The JobsApi of a node: intake into the spool, as SMTP does it.
std::unique_ptr<JobsApi> make_jobs_api(JobsDeps deps);

}  // namespace txmail::api
