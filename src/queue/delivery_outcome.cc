// What happens after an attempt: recipient states, the next attempt or the final outcome, the
// event for each recipient, and the spool write that makes it durable (issue core-2, items 3
// and 9). A recipient is final once delivered or bounced; the job leaves the spool when all
// of its recipients are final.
#include "common/ids.h"
#include "common/log.h"
#include "queue/delivery_engine.h"

namespace txmail::queue {

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
void DeliveryEngine::record(const Unit& unit, std::uint32_t index,
                            const smtp::RecipientAnswer& result, const std::string& remote,
                            const std::string& egress, const std::string& tls, Unit& retry) {
  Job& job = jobs_.at(unit.job);
  Recipient& r = job.recipients[index];
  if (r.attempts < UINT16_MAX) {
    ++r.attempts;
  }
  Outcome event;
  event.job_id = job_id_of(unit.job);
  event.mail_id = mail_id_of(event.job_id, r.block, r.index);
  event.account = job.envelope->account;
  event.recipient = r.view();
  event.sender = job.envelope->sender;
  event.attempt = r.attempts;
  event.remote_host = remote;
  event.reply = result.detail;
  event.verdict = result.verdict;
  event.smtp_reply = result.reply;
  event.egress = egress;
  event.tls = tls;
  event.received_ms = job.received_ms;
  switch (result.verdict.decision) {
    case smtp::Decision::kDelivered:
      r.status = store::RecipientStatus::kDelivered;
      event.kind = Outcome::Kind::kDelivered;
      break;
    case smtp::Decision::kBounced:
      r.status = store::RecipientStatus::kBounced;
      event.kind = Outcome::Kind::kBouncedHard;
      break;
    case smtp::Decision::kDeferred:
      if (options_.retry.expired(job.received_ms, now_ms())) {
        r.status = store::RecipientStatus::kBounced;
        event.kind = Outcome::Kind::kBouncedSoft;
      } else {
        std::uniform_real_distribution<double> unit_interval(0.0, 1.0);
        const std::int64_t next =
            now_ms() + options_.retry.delay(r.attempts, unit_interval(rng_)).count();
        r.next_attempt_s = static_cast<std::uint32_t>((next + 999) / 1000);
        event.kind = Outcome::Kind::kDeferred;
        retry.recipients.push_back(index);
      }
      break;
  }
  if (sink_) {
    sink_(event);
  }
}

void DeliveryEngine::settle_unit(const Unit& unit, const smtp::RecipientAnswer& result,
                                 const std::string& remote) {
  if (!jobs_.contains(unit.job)) {
    return;
  }
  Unit retry{unit.job, {}};
  for (auto i : unit.recipients) {
    record(unit, i, result, remote, "", "", retry);
  }
  finish_unit(unit, std::move(retry));
}

void DeliveryEngine::defer_unit(const Unit& unit, const std::string& remote,
                                const std::string& why) {
  const smtp::Verdict deferred{smtp::Decision::kDeferred, Scope::kMessage, false,
                               smtp::SuppressionClass::kNone};
  settle_unit(unit, smtp::RecipientAnswer{deferred, std::nullopt, why}, remote);
}

void DeliveryEngine::bounce_unit(const Unit& unit, const std::string& why) {
  const smtp::Verdict bounced{smtp::Decision::kBounced, Scope::kMessage, false,
                              smtp::SuppressionClass::kNone};
  settle_unit(unit, smtp::RecipientAnswer{bounced, std::nullopt, why}, "");
}

smtp::RecipientAnswer DeliveryEngine::backed_off(const ReadyQueue& rq) const {
  smtp::RecipientAnswer o = rq.last;
  o.detail = "destination site backed off: " + rq.last.detail;
  return o;
}

void DeliveryEngine::finish_unit(const Unit& unit, Unit retry) {
  const auto job_it = jobs_.find(unit.job);
  Job& job = job_it->second;
  if (!retry.recipients.empty()) {
    drop_fresh(unit.job);  // the next attempt is minutes away: it reads the spool then
    std::int64_t due = INT64_MAX;
    for (auto i : retry.recipients) {
      due = std::min(due, static_cast<std::int64_t>(job.recipients[i].next_attempt_s) * 1000);
    }
    schedule(std::move(retry), due);  // the job keeps this unit in flight
  } else {
    --job.units_in_flight;
  }
  const std::string job_id = job_id_of(unit.job);
  auto logged = [job_id](Result<void> r) {
    if (!r) {
      logger()->error("job={} spool update failed: {}", job_id, r.error().detail);
    }
  };
  if (job.units_in_flight == 0) {
    drop_fresh(unit.job);
    spool_.erase(job_id, logged);
    logger()->info("job={} done: every recipient is final", job_id);
    envelopes_.release(job.envelope);
    jobs_.erase(job_it);
    spool_.queue_size_hint(jobs_.size());
    queued_jobs_.store(jobs_.size(), std::memory_order_relaxed);
  } else {
    spool_.update_recipients(job_id, expand(job_id, job), logged);
  }
}

}  // namespace txmail::queue
