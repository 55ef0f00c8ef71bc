// Sandbox delivery (queue/sandbox.h): a unit of a sandbox account is taken where a connection
// would take it, after intake signed and spooled its message, and goes to the capture store
// instead of a server. Its recipients' outcomes go through record() and finish_unit() like
// those of a real attempt, so the spool, the events and the notifications are the same.
#include <fmt/format.h>

#include "common/ids.h"
#include "common/log.h"
#include "queue/delivery_engine.h"
#include "queue/sandbox.h"

namespace txmail::queue {

bool DeliveryEngine::sandboxed(const Unit& unit) const {
  if (!options_.sandbox || !options_.capture) {
    return false;
  }
  const auto it = jobs_.find(unit.job);
  return it != jobs_.end() && options_.sandbox(it->second.envelope->account);
}

awaitable<Result<void>> DeliveryEngine::store_captured(
    std::vector<store::CapturedMessage> captured) {
  // A named starter: g++ 12 mishandles capturing temporaries inside co_await expressions.
  auto starter = [this,
                  captured = std::move(captured)](std::function<void(Result<void>)> done) mutable {
    asio::post(workers_, [this, captured = std::move(captured), done = std::move(done)] {
      done(options_.capture(captured));
    });
  };
  return await_callback<Result<void>>(std::move(starter));  // not a coroutine itself
}

awaitable<void> DeliveryEngine::capture_unit(Unit unit) {
  const std::string job_id = job_id_of(unit.job);
  // As deliver_unit: a job another node took over is dropped; without the lease it waits.
  if (!spool_.owns(job_id)) {
    forget(unit.job);
    co_return;
  }
  if (!spool_.may_deliver()) {
    schedule(std::move(unit), now_ms() + 1000);
    co_return;
  }
  auto loaded = co_await load(unit);
  const auto job_it = jobs_.find(unit.job);
  if (job_it == jobs_.end()) {
    co_return;
  }
  if (!loaded) {
    logger()->error("job={} cannot be read from the spool: {}", job_id, loaded.error().detail);
    defer_unit(unit, "", "spool read failed");
    co_return;
  }
  // The answers and what is captured are decided before the next wait: jobs_ may change then.
  const Job& job = job_it->second;
  std::vector<smtp::RecipientAnswer> answers;
  std::vector<store::CapturedMessage> captured;
  for (auto i : unit.recipients) {
    const Recipient& r = job.recipients[i];
    answers.push_back(sandbox_answer(simulated(r.view()), r.attempts));
    if (answers.back().verdict.decision != smtp::Decision::kDelivered) {
      continue;
    }
    store::CapturedMessage m;
    m.mail_id = mail_id_of(job_id, r.block, r.index);
    m.job_id = m.mail_id.substr(0, m.mail_id.find('#'));  // a block's record names the job
    m.account = job.envelope->account;
    // The envelope sender a connection would have used (the return path, when it is on).
    m.sender = job.envelope->sender;
    if (options_.return_path && !m.sender.empty()) {
      m.sender = options_.return_path(m.mail_id, m.sender).value_or(m.sender);
    }
    m.recipient = std::string(r.view());
    m.captured_ms = now_ms();
    m.message = **loaded;
    captured.push_back(std::move(m));
  }
  if (!captured.empty()) {
    const std::size_t n = captured.size();
    auto stored = co_await store_captured(std::move(captured));
    if (!jobs_.contains(unit.job)) {
      co_return;
    }
    if (!stored) {
      logger()->error("job={} sandbox capture failed: {}", job_id, stored.error().detail);
      defer_unit(unit, std::string(kSandboxHost), "sandbox capture failed");
      co_return;
    }
    logger()->info("delivery job={} sandbox: {} recipients captured", job_id, n);
  }
  Unit retry{unit.job, {}};
  for (std::size_t k = 0; k < unit.recipients.size(); ++k) {
    record(unit, unit.recipients[k], answers[k], std::string(kSandboxHost), "", "", retry);
  }
  finish_unit(unit, std::move(retry));
}

}  // namespace txmail::queue
