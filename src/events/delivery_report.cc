#include "events/delivery_report.h"

#include "mime/headers.h"

namespace txmail::events {

Event event_of(const queue::Outcome& o) {
  using K = queue::Outcome::Kind;
  const Kind kind = o.kind == K::kDelivered     ? Kind::kDelivered
                    : o.kind == K::kDeferred    ? Kind::kDeferred
                    : o.kind == K::kBouncedHard ? Kind::kBouncedHard
                                                : Kind::kBouncedSoft;
  Event e = make_event(kind);
  // A REST job of several blocks has one spool record per block; its mail ids name the job.
  const std::size_t hash = o.mail_id.find('#');
  e.job_id = hash == std::string::npos ? o.job_id : o.mail_id.substr(0, hash);
  e.mail_id = o.mail_id;
  e.account = o.account;
  e.recipient = o.recipient;
  e.sender = o.sender;
  e.attempt = o.attempt;
  e.remote_host = o.remote_host;
  e.reply = o.reply;
  e.egress = o.egress;
  e.tls = o.tls;
  return e;
}

bool reported(const queue::Outcome& o, std::size_t deferred_every) {
  const bool repeated = o.kind == queue::Outcome::Kind::kDeferred && o.attempt > 1;
  return !repeated || (deferred_every != 0 && (o.attempt - 1) % deferred_every == 0);
}

Event recipient_event(Kind kind, const store::SpoolRecord& job, const store::SpoolRecipient& rcpt) {
  Event e = make_event(kind);
  e.job_id = job.job_id;
  e.mail_id = rcpt.mail_id;
  e.account = job.account;
  e.recipient = rcpt.address;
  e.sender = job.sender;
  return e;
}

JobInfo smtp_job_info(const store::SpoolRecord& job, const mime::ControlFields& c) {
  JobInfo info;
  info.job_id = job.job_id;
  info.account = job.account;
  info.received_ms = job.received_ms;
  info.sender = job.sender;
  const auto froms = mime::field_values(mime::header_section(job.message), "From");
  info.mime_from = froms.empty() ? job.sender : mime::address_of(froms.front());
  info.reference_job = c.reference;
  info.campaign_id = c.campaign_id;
  info.cost_center = c.cost_center;
  return info;
}

}  // namespace txmail::events
