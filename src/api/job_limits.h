// The limits of one POST /v2/jobs request, apart from the intake (jobs.h) so that the pure
// request reader (job_request.h) and its fuzz target build without the HTTP server.
#pragma once

#include <cstddef>

namespace txmail::api {

struct JobLimits {
  std::size_t max_recipients = 1000;           // all addresses of all blocks together
  std::size_t max_message_bytes = 20'000'000;  // each composed message
  std::size_t max_subject_chars = 500;
  // All the job's composed messages together: a job is composed whole before it is spooled,
  // so this bounds the memory one request can take (1,000 blocks x 20 MB would be 20 GB).
  std::size_t max_job_bytes = std::size_t{256} * 1024 * 1024;
};

}  // namespace txmail::api
