// What intake and delivery report to the event log (issue site-1, item 2: rules out of the
// composition root). A delivery outcome becomes one event; a recipient's first deferral is
// reported, later ones only every `deferred_every` attempts ([notifications] deferred_every);
// an SMTP job's control fields (X-TXMAIL-*, X-RETARUS-M4A-*) become its JobInfo.
#pragma once

#include "events/event.h"
#include "mime/control_fields.h"
#include "queue/delivery_engine.h"
#include "store/spool_record.h"

namespace txmail::events {

Event event_of(const queue::Outcome& outcome);
// Whether the outcome is worth an event (repeated deferrals are thinned out).
bool reported(const queue::Outcome& outcome, std::size_t deferred_every);
// An event about one recipient of a spooled job (STARTED, DROPPED, PROCESSED, ...).
Event recipient_event(Kind kind, const store::SpoolRecord& job, const store::SpoolRecipient& rcpt);
// An SMTP job's metadata, from its envelope, header From and control fields (the job's own
// notification endpoint is left to the caller, which seals it).
JobInfo smtp_job_info(const store::SpoolRecord& job, const mime::ControlFields& control);

}  // namespace txmail::events
