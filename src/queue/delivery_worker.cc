// Connections of a ready queue: open one to the destination site from the queue's egress
// source, then deliver unit after unit over it (connection reuse), at the queue's pace.
#include <fmt/format.h>

#include "common/log.h"
#include "queue/delivery_engine.h"

namespace txmail::queue {

void DeliveryEngine::maybe_start_worker(ReadyQueue& rq) {
  if (stopping_ || rq.units.empty()) {
    return;
  }
  if (rq.backoff_until_ms > now_ms()) {
    while (!rq.units.empty()) {  // the site is backed off: these are deferred without a try
      Unit unit = std::move(rq.units.front());
      rq.units.pop_front();
      ready_backlog_.fetch_sub(1, std::memory_order_relaxed);
      defer_unit(unit, rq.destination.site, "destination site backed off: " + rq.last_error);
    }
    return;
  }
  std::size_t& source_count = source_connections_[rq.source.name];
  if (rq.connections >= *rq.limits.max_connections
      || source_count >= options_.max_connections_per_source) {
    return;
  }
  // Another connection only when the open ones have more waiting than they are taking.
  if (rq.connections > 0 && rq.units.size() <= rq.connections) {
    return;
  }
  ++rq.connections;
  ++source_count;
  ++connections_;
  asio::co_spawn(io_, worker(this, &rq), asio::detached);
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
  if (options_.rate_per_source > 0) {
    auto [it, inserted] =
        source_rates_.try_emplace(rq.source.name, Gcra(options_.rate_per_source, 1.0));
    wait = std::max(wait, it->second.reserve(now));
  }
  if (wait > Gcra::Clock::duration::zero()) {
    asio::steady_timer timer(io_, wait);
    co_await timer.async_wait(use_tuple);
  }
}

awaitable<void> DeliveryEngine::worker(DeliveryEngine* self, ReadyQueue* rq) {
  smtp::ClientOptions options = self->options_.client;
  options.ehlo = rq->source.ehlo;
  options.source = rq->source.address;
  options.tls = *rq->limits.tls;
  auto opened =
      co_await smtp::open_first(self->io_.get_executor(), rq->destination, options, self->tls_);
  if (!opened.session) {
    // The site cannot be reached from this source: back it off as a whole, and every unit
    // waiting for it is deferred now rather than tried connection by connection.
    ++rq->failures;
    const auto delay = self->options_.retry.delay(rq->failures, 0.5);
    rq->backoff_until_ms = now_ms() + delay.count();
    rq->last_error = opened.detail;
    logger()->info("delivery site={} source={} unreachable, backing off {} ms: {}",
                   rq->destination.site, rq->source.name, delay.count(), opened.detail);
    while (!rq->units.empty()) {
      Unit unit = std::move(rq->units.front());
      rq->units.pop_front();
      self->ready_backlog_.fetch_sub(1, std::memory_order_relaxed);
      self->defer_unit(unit, rq->destination.site, opened.detail);
    }
  } else {
    rq->failures = 0;
    auto& session = *opened.session;
    std::size_t sent = 0;
    auto idle_since = std::chrono::steady_clock::now();
    while (session.usable() && !self->stopping_ && sent < *rq->limits.max_messages_per_connection) {
      if (rq->units.empty()) {
        // Keep the connection a while for the next unit of this queue: a new unit wakes it.
        const auto idle_for = std::chrono::steady_clock::now() - idle_since;
        if (idle_for >= self->options_.idle_connection) {
          break;
        }
        asio::steady_timer wait(self->io_, self->options_.idle_connection - idle_for);
        rq->idle.push_back(&wait);
        co_await wait.async_wait(use_tuple);
        std::erase(rq->idle, &wait);  // gone already when a unit woke it
        continue;
      }
      Unit unit = std::move(rq->units.front());
      rq->units.pop_front();
      self->ready_backlog_.fetch_sub(1, std::memory_order_relaxed);
      co_await self->pace(*rq);
      co_await self->deliver_unit(*rq, session, std::move(unit));
      ++sent;
      idle_since = std::chrono::steady_clock::now();
    }
    co_await session.quit();
  }
  --rq->connections;
  --self->source_connections_[rq->source.name];
  --self->connections_;
  if (self->stopping_) {
    if (self->connections_ == 0 && self->on_stopped_) {
      self->stop_timer_.cancel();
      auto done = std::move(self->on_stopped_);
      self->on_stopped_ = nullptr;
      done();
    }
    co_return;
  }
  self->maybe_start_worker(*rq);
}

awaitable<void> DeliveryEngine::deliver_unit(ReadyQueue& rq, smtp::ClientSession& session,
                                             Unit unit) {
  const std::string job_id = job_id_of(unit.job);
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
  const Job& job = job_it->second;
  smtp::Outgoing out;
  out.sender = job.envelope->sender;
  for (auto i : unit.recipients) {
    out.recipients.emplace_back(job.recipients[i].view());
  }
  out.message = std::move(*loaded);
  out.smtputf8 = (job.envelope->flags & store::SpoolRecord::kFlagSmtpUtf8) != 0;
  out.eight_bit = (job.envelope->flags & store::SpoolRecord::kFlag8BitMime) != 0;
  const auto results = co_await session.send(out);
  const std::string remote = fmt::format("{}[{}]", session.peer().host, session.peer().address);
  Unit retry{unit.job, {}};
  for (std::size_t k = 0; k < unit.recipients.size(); ++k) {
    record(unit, unit.recipients[k], results[k].verdict.outcome, remote, results[k].reply,
           session.local_address(), session.tls_version(), retry);
  }
  logger()->info("delivery job={} site={} host={} rcpts={} tls={}", job_id, rq.destination.site,
                 remote, unit.recipients.size(),
                 session.tls_version().empty() ? "no" : session.tls_version());
  finish_unit(unit, std::move(retry));
}

}  // namespace txmail::queue
