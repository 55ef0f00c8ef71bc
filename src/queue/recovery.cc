// Recovery at start: the schedule rebuilt from the spool (DESIGN.md section 2, step 6).
#include "common/log.h"
#include "queue/delivery_engine.h"

namespace txmail::queue {

// Rebuilds the schedule from the spool: every job goes back to delivery with its recipients'
// states (delivered ones are never sent again). Runs before the I/O threads start.
void recover_from_spool(store::Spool& spool, DeliveryEngine& delivery) {
  std::size_t queued = 0;
  std::size_t corrupt = 0;
  auto n = spool.scan(
      [&](store::SpoolRecord&& r) {
        for (const auto& rcpt : r.recipients) {
          queued += rcpt.status == store::RecipientStatus::kQueued ? 1 : 0;
        }
        delivery.restore(r);
        return true;
      },
      [&](const Error& e) {
        ++corrupt;
        logger()->error("spool recovery: unreadable record: {}", e.detail);
      },
      store::Spool::Messages::kEnvelopes);
  if (n) {
    logger()->info("spool recovered jobs={} recipients_queued={} unreadable={}", *n, queued,
                   corrupt);
  } else {
    logger()->error("spool recovery failed: {}", n.error().detail);
  }
}

}  // namespace txmail::queue
