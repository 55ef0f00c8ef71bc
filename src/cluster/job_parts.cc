#include "cluster/job_parts.h"

#include <string>
#include <string_view>

#include "cluster/jetstream_spool.h"
#include "cluster/sha256.h"

namespace txmail::cluster {
namespace {

// The record without its message: the record part of a chunked job.
store::SpoolRecord record_head(const store::SpoolRecord& record) {
  store::SpoolRecord head;
  head.job_id = record.job_id;
  head.account = record.account;
  head.sender = record.sender;
  head.received_ms = record.received_ms;
  head.flags = record.flags;
  head.recipients = record.recipients;
  head.job_data = record.job_data;
  return head;
}

}  // namespace

std::vector<PublishTracker::Part> job_parts(const SpoolId& spool, const store::SpoolRecord& record,
                                            std::int64_t max_payload) {
  std::string head_bytes = store::encode(record_head(record));
  const auto plan =
      chunk_plan(head_bytes.size() + record.message.size(), record.message.size(), max_payload);
  std::vector<PublishTracker::Part> parts;
  if (plan.chunks == 0) {
    parts.push_back({.subject = part_subject(spool, record.job_id, Part::kRecord),
                     .msg_id = part_msg_id(spool, record.job_id, Part::kRecord),
                     .payload = store::encode(record),
                     .headers = {}});
    return parts;
  }
  parts.reserve(plan.chunks + 1);
  const std::string_view message = record.message;
  for (std::size_t i = 0; i < plan.chunks; ++i) {
    const auto n = static_cast<std::uint32_t>(i);
    parts.push_back({.subject = part_subject(spool, record.job_id, Part::kChunk, n),
                     .msg_id = part_msg_id(spool, record.job_id, Part::kChunk, n),
                     .payload = std::string(message.substr(i * plan.chunk_size, plan.chunk_size)),
                     .headers = {}});
  }
  // The record last: a record in the stream means its chunks are there before it.
  parts.push_back({.subject = part_subject(spool, record.job_id, Part::kRecord),
                   .msg_id = part_msg_id(spool, record.job_id, Part::kRecord),
                   .payload = std::move(head_bytes),
                   .headers = {{"Txmail-Chunks", std::to_string(plan.chunks)},
                               {"Txmail-Size", std::to_string(message.size())},
                               {"Txmail-Sha256", Sha256::of(message)}}});
  return parts;
}

Result<void> job_fits(const store::SpoolRecord& record, std::int64_t max_payload) {
  // An inline record is within one chunk by chunk_plan's choice; a chunked job's record part
  // is its head. The limit is unknown before the first connection: nothing is refused then.
  if (max_payload <= 0) {
    return {};
  }
  const std::size_t head = store::encoded_head_size(record);
  if (chunk_plan(head + record.message.size(), record.message.size(), max_payload).chunks == 0) {
    return {};
  }
  return record_part_fits(head, record.recipients.size(), max_payload);
}

// The spool's limits on a job, from the server's max_payload.
std::int64_t JetStreamSpool::max_payload() const {
  return natsConnection_GetMaxPayload(ctx_.nats.raw());
}

Result<void> JetStreamSpool::admits(const store::SpoolRecord& record) const {
  return job_fits(record, max_payload());
}

std::optional<std::size_t> JetStreamSpool::head_limit() const {
  const std::int64_t payload = max_payload();
  if (payload <= 0) {
    return std::nullopt;  // never connected: nothing is refused (as in job_fits)
  }
  return record_part_limit(payload);
}

}  // namespace txmail::cluster
