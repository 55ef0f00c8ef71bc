// Connections of a ready queue: open one to the destination site from the queue's egress
// source, then deliver unit after unit over it (connection reuse), at the queue's pace. The
// source's slots are shared by every destination: one that finds none free waits in the
// source's line and is woken by the next slot freed (issue deliver-2).
#include <fmt/format.h>

#include "common/log.h"
#include "queue/delivery_engine.h"

namespace txmail::queue {

DeliveryEngine::Source& DeliveryEngine::source_state(const std::string& name) {
  auto it = sources_.find(name);
  if (it == sources_.end()) {
    it = sources_.try_emplace(name, options_.max_connections_per_source, options_.retry).first;
    if (options_.rate_per_source > 0) {
      it->second.rate.emplace(options_.rate_per_source, 1.0);
    }
  }
  return it->second;
}

// Another connection only when the open ones have more waiting than they are taking, and
// within the destination's own limit.
bool DeliveryEngine::wants_connection(const ReadyQueue& rq) const {
  return !stopping_ && !rq.units.empty() && rq.connections < *rq.limits.max_connections
         && (rq.connections == 0 || rq.units.size() > rq.connections);
}

void DeliveryEngine::defer_backed_off(ReadyQueue& rq) {
  // The site is backed off: these are deferred without a try, with the site's last answer.
  const smtp::RecipientAnswer last = backed_off(rq);
  rq.units.drain([&](Unit unit) {
    ready_taken(unit);
    settle_unit(unit, last, rq.destination.site);
  });
}

void DeliveryEngine::site_verdict(ReadyQueue& rq, const smtp::RecipientAnswer& result,
                                  const std::string& remote) {
  // Several connections failing at once fail together: one outage, counted once.
  if (result.verdict.decision == smtp::Decision::kDeferred && rq.backoff_until_ms <= now_ms()) {
    ++rq.failures;
    const auto delay = options_.retry.delay(rq.failures, 0.5);
    rq.backoff_until_ms = now_ms() + delay.count();
    rq.last = result;
    logger()->info("delivery site={} source={} backed off {} ms: {}", rq.destination.site,
                   rq.egress->name, delay.count(), result.detail);
  }
  rq.units.drain([&](Unit unit) {
    ready_taken(unit);
    settle_unit(unit, result, remote);
  });
}

void DeliveryEngine::maybe_start_worker(ReadyQueue& rq) {
  if (stopping_ || rq.units.empty()) {
    return;
  }
  if (rq.backoff_until_ms > now_ms()) {
    defer_backed_off(rq);
    return;
  }
  if (!wants_connection(rq) || rq.waiting) {
    return;
  }
  Source& source = *rq.source;
  if (!source.line.has_waiters() && source.line.can_open()) {
    open_connection(rq);
    return;
  }
  // Wait in the source's line; an idle connection of another destination gives its slot back
  // for it rather than holding it until its idle time ends.
  rq.waiting = true;
  source.line.join(&rq);
  if (source.line.full()) {
    give_back_idle(source);
  }
  serve_line(source);
}

void DeliveryEngine::open_connection(ReadyQueue& rq) {
  ++rq.connections;
  rq.source->line.open();
  ++connections_;
  asio::co_spawn(io_, worker(this, &rq), log_failure("a delivery connection"));
}

// Whenever a slot of `source` frees or an opening ends: the waiting destinations take the free
// slots in turn, one connection each; one that wants more joins the line again at its back.
void DeliveryEngine::serve_line(Source& source) {
  while (!stopping_) {
    auto next = source.line.next();
    if (!next) {
      return;
    }
    ReadyQueue& rq = **next;
    rq.waiting = false;
    if (rq.backoff_until_ms > now_ms()) {
      defer_backed_off(rq);
      drop_if_unused(rq);
      continue;
    }
    if (!wants_connection(rq)) {
      drop_if_unused(rq);
      continue;
    }
    open_connection(rq);
    if (wants_connection(rq)) {
      rq.waiting = true;
      source.line.join(&rq);
    }
  }
}

void DeliveryEngine::give_back_idle(Source& source) {
  if (source.idle.empty()) {
    return;
  }
  IdleWait* w = source.idle.front();
  source.idle.erase(source.idle.begin());
  std::erase(w->rq->idle, w);  // no unit is handed to a connection that is about to QUIT
  w->give_back = true;
  w->timer.cancel();
}

void DeliveryEngine::ready_added(const Unit& unit) {
  ready_backlog_.fetch_add(1, std::memory_order_relaxed);
  Job& job = jobs_.at(unit.job);
  ++job.ready_units;
  std::lock_guard lock(backlog_mutex_);
  ++account_backlog_[job.envelope->account];
}

void DeliveryEngine::ready_taken(const Unit& unit) {
  ready_backlog_.fetch_sub(1, std::memory_order_relaxed);
  const auto job = jobs_.find(unit.job);
  // Forgotten: forget() took its units off the account's count. (A job forgotten and adopted
  // again may meet a unit of its first life here: it holds no share of the new one's.)
  if (job == jobs_.end() || job->second.ready_units == 0) {
    return;
  }
  --job->second.ready_units;
  release_backlog(job->second.envelope->account, 1);
}

void DeliveryEngine::release_backlog(const std::string& account, std::size_t units) {
  if (units == 0) {
    return;
  }
  std::lock_guard lock(backlog_mutex_);
  const auto it = account_backlog_.find(account);
  if (it == account_backlog_.end()) {
    return;
  }
  it->second -= std::min(units, it->second);
  if (it->second == 0) {
    account_backlog_.erase(it);
  }
}

std::size_t DeliveryEngine::ready_backlog(const std::string& account) const {
  std::lock_guard lock(backlog_mutex_);
  const auto it = account_backlog_.find(account);
  return it == account_backlog_.end() ? 0 : it->second;
}

void DeliveryEngine::drop_if_unused(ReadyQueue& rq) {
  if (!rq.units.empty() || rq.connections > 0 || rq.waiting || !rq.idle.empty() || rq.pins > 0
      || rq.backoff_until_ms > now_ms()) {
    return;
  }
  // By iterator: the map's key is a view of rq.key, which goes with rq.
  ready_.erase(ready_.find(std::string_view{rq.key}));  // rq is gone from here on
  ready_queues_.store(ready_.size(), std::memory_order_relaxed);
}

void DeliveryEngine::sweep_ready_queues(std::int64_t now) {
  for (auto& [name, source] : sources_) {
    source.addresses.sweep();
  }
  // Queues kept only for a back-off that has ended since.
  std::vector<ReadyQueue*> unused;
  for (auto& [key, rq] : ready_) {
    if (rq->units.empty() && rq->connections == 0 && !rq->waiting && rq->idle.empty()
        && rq->pins == 0 && rq->backoff_until_ms <= now) {
      unused.push_back(rq.get());
    }
  }
  for (auto* rq : unused) {
    drop_if_unused(*rq);
  }
}

void DeliveryEngine::connection_ended(ReadyQueue& rq) {
  --rq.connections;
  rq.source->line.closed();
  --connections_;
  if (stopping_) {
    if (connections_ == 0 && on_stopped_) {
      stop_timer_.cancel();
      auto done = std::move(on_stopped_);
      on_stopped_ = nullptr;
      done();
    }
    return;
  }
  // The freed slot goes to the first destination in line; this one, when it has more, joins
  // the line behind the others. Pinned meanwhile: serve_line may meet this queue in the line
  // with nothing left to send, and must not drop it under our feet.
  ++rq.pins;
  serve_line(*rq.source);
  maybe_start_worker(rq);
  --rq.pins;
  drop_if_unused(rq);
}

awaitable<Result<std::shared_ptr<const std::string>>> DeliveryEngine::load(const Unit& unit) {
  if (const auto it = fresh_.find(unit.job); it != fresh_.end()) {
    co_return it->second;  // handed over at submit: no spool read
  }
  const std::string job_id = job_id_of(unit.job);
  // A message still in memory is read here (no thread hop); one on disk is read on the worker
  // pool, never on the engine's thread.
  if (auto in_memory = spool_.get_from_memory(job_id)) {
    if (!*in_memory) {
      co_return tl::unexpected(in_memory->error());
    }
    if (!in_memory->value()) {
      co_return make_error(ErrorCode::kNotFound, "job " + job_id + " is not in the spool");
    }
    co_return std::make_shared<const std::string>(std::move(in_memory->value()->message));
  }
  // A named starter: g++ 12 mishandles capturing temporaries inside co_await expressions.
  auto starter = [this,
                  job_id](std::function<void(Result<std::optional<store::SpoolRecord>>)> done) {
    asio::post(workers_, [this, job_id, done = std::move(done)] { done(spool_.get(job_id)); });
  };
  auto record =
      co_await await_callback<Result<std::optional<store::SpoolRecord>>>(std::move(starter));
  if (!record) {
    co_return tl::unexpected(record.error());
  }
  if (!record->has_value()) {
    co_return make_error(ErrorCode::kNotFound, "job " + job_id + " is not in the spool");
  }
  co_return std::make_shared<const std::string>(std::move((*record)->message));
}

awaitable<void> DeliveryEngine::pace(ReadyQueue& rq) {
  const auto now = Gcra::Clock::now();
  auto wait = rq.rate.reserve(now);
  if (rq.source->rate) {
    wait = std::max(wait, rq.source->rate->reserve(now));
  }
  if (wait > Gcra::Clock::duration::zero()) {
    Timer timer(io_, wait);
    co_await timer.async_wait(use_tuple);
  }
}

awaitable<void> DeliveryEngine::worker(DeliveryEngine* self, ReadyQueue* rq) {
  // Never run inline inside the caller (serve_line walks the line while it opens).
  co_await asio::post(self->io_.get_executor(), asio::use_awaitable);
  bool opening = true;
  try {
    co_await self->run_connection(*rq, opening);
  } catch (const std::exception& e) {
    // Never expected (the client reports failures as results): the slot is given back all
    // the same; the unit in hand stays queued in the spool and is retried after a restart.
    logger()->error("delivery site={} connection failed with an exception: {}",
                    rq->destination.site, e.what());
  } catch (...) {
    logger()->error("delivery site={} connection failed with an exception", rq->destination.site);
  }
  if (opening) {  // it ended before its opening did: that slot too
    rq->source->line.opened();
  }
  self->connection_ended(*rq);
}

awaitable<void> DeliveryEngine::run_connection(ReadyQueue& rq, bool& opening) {
  Source& source = *rq.source;
  smtp::ClientOptions options = options_.client;
  options.ehlo = rq.egress->ehlo;
  options.source = rq.egress->address;
  options.tls = *rq.limits.tls;
  auto opened = co_await smtp::open_first(io_.get_executor(), rq.destination, options, tls_,
                                          &source.addresses);
  source.line.opened();
  opening = false;
  if (!opened.session) {
    // No MX host of the site took the connection: the last answer's verdict (trouble.h, scope
    // destination site) goes to every unit waiting, now rather than connection by connection;
    // a deferral backs the site off as a whole.
    site_verdict(rq, opened.failure, rq.destination.site);
    serve_line(source);  // the opening slot is free again (after the back-off is set)
    co_return;
  }
  serve_line(source);  // the opening slot is free again
  rq.failures = 0;
  rq.backoff_until_ms = 0;  // the site answers: what another connection's failure set is over
  auto& session = *opened.session;
  std::size_t sent = 0;
  auto idle_since = Clock::now();
  while (session.usable() && !stopping_ && sent < *rq.limits.max_messages_per_connection) {
    if (rq.units.empty()) {
      // Another destination waits for this source's slot: give it back now.
      if (source.line.has_waiters()) {
        break;
      }
      // Keep the connection a while for the next unit of this queue: a new unit wakes it,
      // and so does a destination that comes to wait for the slot.
      const auto idle_for = Clock::now() - idle_since;
      if (idle_for >= options_.idle_connection) {
        break;
      }
      IdleWait wait{Timer(io_, options_.idle_connection - idle_for), &rq};
      rq.idle.push_back(&wait);
      source.idle.push_back(&wait);
      co_await wait.timer.async_wait(use_tuple);
      std::erase(rq.idle, &wait);  // gone already when a unit or a waiter woke it
      std::erase(source.idle, &wait);
      if (wait.give_back) {
        break;
      }
      continue;
    }
    Unit unit = std::move(rq.units.front());
    rq.units.pop_front();
    ready_taken(unit);
    co_await pace(rq);
    if (hold_if_paused(unit, rq.destination.site)) {  // paused while it waited
      continue;
    }
    const bool reuse = co_await deliver_unit(rq, session, std::move(unit));
    ++sent;
    if (!reuse) {
      break;
    }
    idle_since = Clock::now();
  }
  co_await session.quit();
}

// Cluster mode: a job another node took over is dropped; while the lease is not confirmed the
// unit waits (no attempt is counted). A paused unit is held.
bool DeliveryEngine::may_send(ReadyQueue& rq, Unit& unit, const std::string& job_id) {
  if (!spool_.owns(job_id)) {
    forget(unit.job);
    return false;
  }
  if (!spool_.may_deliver()) {
    schedule(std::move(unit), now_ms() + 1000);  // the job keeps this unit in flight
    return false;
  }
  return !hold_if_paused(unit, rq.destination.site);
}

awaitable<bool> DeliveryEngine::deliver_unit(ReadyQueue& rq, smtp::ClientSession& session,
                                             Unit unit) {
  const std::string job_id = job_id_of(unit.job);
  if (!may_send(rq, unit, job_id)) {
    co_return true;
  }
  auto loaded = co_await load(unit);
  const auto job_it = jobs_.find(unit.job);
  if (job_it == jobs_.end()) {
    co_return true;
  }
  // Reading a taken-over message from the stream may take seconds: ask again.
  if (!may_send(rq, unit, job_id)) {
    co_return true;
  }
  if (!loaded) {
    logger()->error("job={} cannot be read from the spool: {}", job_id, loaded.error().detail);
    defer_unit(unit, "", "spool read failed");
    co_return true;
  }
  const Job& job = job_it->second;
  smtp::Outgoing out;
  out.sender = job.envelope->sender;
  for (auto i : unit.recipients) {
    out.recipients.emplace_back(job.recipients[i].view());
  }
  out.message = std::move(*loaded);
  out.smtputf8 = (job.envelope->flags & store::SpoolRecord::kFlagSmtpUtf8) != 0;
  out.eight_bit = (job.envelope->flags & store::SpoolRecord::kFlag8BitMime) != 0;
  // (Not a conditional expression: GCC 12 mishandles co_await inside one.)
  std::vector<smtp::RecipientAnswer> results;
  if (options_.return_path) {
    results = co_await send_each(session, unit, job, out);
  } else {
    results = co_await session.send(out);
  }
  if (!jobs_.contains(unit.job)) {
    co_return true;  // forgotten while it was sent (taken over): another node owns its states
  }
  const std::string remote = fmt::format("{}[{}]", session.peer().host, session.peer().address);
  Unit retry{unit.job, {}};
  bool reuse = true;
  const smtp::RecipientAnswer* site = nullptr;
  for (std::size_t k = 0; k < unit.recipients.size(); ++k) {
    record(unit, unit.recipients[k], results[k], remote, session.local_address(),
           session.tls_version(), retry);
    // What the verdict's scope says of the connection and the site (trouble.h).
    switch (results[k].verdict.scope) {
      case Scope::kRecipient:
      case Scope::kMessage:
        break;
      case Scope::kDestinationSite:
        site = &results[k];
        reuse = false;
        break;
      case Scope::kConnection:
      case Scope::kNode:
        reuse = false;
        break;
    }
  }
  logger()->info("delivery job={} site={} host={} rcpts={} tls={}", job_id, rq.destination.site,
                 remote, unit.recipients.size(),
                 session.tls_version().empty() ? "no" : session.tls_version());
  finish_unit(unit, std::move(retry));
  if (site != nullptr) {
    site_verdict(rq, *site, remote);
  }
  co_return reuse;
}

// With the return path the service owns: one transaction per recipient, each with its own
// envelope sender (the recipient's b-<token> address); results in the unit's order. The job is
// read before the first wait: other coroutines may change jobs_ while this one waits.
awaitable<std::vector<smtp::RecipientAnswer>> DeliveryEngine::send_each(
    smtp::ClientSession& session, const Unit& unit, const Job& job,
    const smtp::Outgoing& out) const {
  const std::string job_id = job_id_of(unit.job);
  std::vector<smtp::Outgoing> each(out.recipients.size());
  for (std::size_t k = 0; k < out.recipients.size(); ++k) {
    const auto& r = job.recipients[unit.recipients[k]];
    // The null sender (a notification relayed through txmail) stays null: RFC 5321 4.5.5.
    each[k].sender = out.sender.empty()
                         ? out.sender
                         : options_.return_path(mail_id_of(job_id, r.block, r.index), out.sender)
                               .value_or(out.sender);
    each[k].recipients = {out.recipients[k]};
    each[k].message = out.message;
    each[k].smtputf8 = out.smtputf8;
    each[k].eight_bit = out.eight_bit;
  }
  // Units have one recipient when the return path is on (policy_for); should one have more,
  // a connection that failed is not used for the rest: they get its answer.
  std::vector<smtp::RecipientAnswer> results;
  results.reserve(each.size());
  for (const auto& one : each) {
    if (!results.empty() && !session.usable()) {
      results.push_back(results.back());
      continue;
    }
    auto answer = co_await session.send(one);
    results.push_back(std::move(answer.front()));
  }
  co_return results;
}

}  // namespace txmail::queue
