// A job as the parts a spool stream holds it in (issue site-2): its record with the message
// inline, or the message in chunks and the record last; and whether a job fits at all.
#pragma once

#include <cstdint>
#include <vector>

#include "cluster/publish_tracker.h"
#include "cluster/spool_subjects.h"
#include "common/result.h"
#include "store/spool_record.h"

namespace txmail::cluster {

// The parts of `record` in `spool`, for a server whose max_payload is `max_payload`.
std::vector<PublishTracker::Part> job_parts(const SpoolId& spool, const store::SpoolRecord& record,
                                            std::int64_t max_payload);

// Whether the record part of `record` (see record_part_fits) goes in one message: checked at
// intake, before anything of the job is stored.
Result<void> job_fits(const store::SpoolRecord& record, std::int64_t max_payload);

}  // namespace txmail::cluster
