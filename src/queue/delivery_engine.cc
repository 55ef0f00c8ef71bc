#include "queue/delivery_engine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "common/idna.h"
#include "common/ids.h"
#include "common/log.h"
#include "smtp/client/mx_walk.h"

namespace txmail::queue {

namespace {

// Next-attempt times are kept in whole seconds, rounded up (never earlier than asked).
std::uint32_t to_seconds(std::int64_t ms) {
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>((ms + 999) / 1000, 0, UINT32_MAX));
}

}  // namespace

// A U-label never reaches DNS. Intake refused invalid IDNs; one read from an older spool falls
// back to lower case and fails at DNS as it always did.
std::string recipient_domain(std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string::npos) {
    return {};
  }
  const std::string_view d = address.substr(at + 1);
  auto ascii = idna::to_ascii(d);
  if (ascii) {
    return std::move(*ascii);
  }
  std::string lowered(d);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
DeliveryEngine::DeliveryEngine(asio::io_context& io, DeliveryOptions options, std::string node_name,
                               store::Spool& spool, dns::Resolver& resolver,
                               asio::thread_pool& workers, std::shared_ptr<asio::ssl::context> tls,
                               PoolOf pool_of, OutcomeSink sink)
    : io_(io),
      options_(std::move(options)),
      node_name_(std::move(node_name)),
      spool_(spool),
      resolver_(resolver),
      workers_(workers),
      tls_(std::move(tls)),
      pool_of_(std::move(pool_of)),
      sink_(std::move(sink)),
      wake_(io),
      stop_timer_(io) {
  install(EgressSettings{options_.sources, options_.pools, options_.routes});
}

void DeliveryEngine::reconfigure(EgressSettings settings) {
  asio::post(io_, [this, s = std::move(settings)]() mutable { install(std::move(s)); });
}

// Sources live as long as the engine (egress_objects_ only grows): a ready queue or a
// connection may still point at a source the new settings changed or dropped; it finishes
// with it, and the next routing uses the new one.
void DeliveryEngine::install(EgressSettings s) {
  if (s.sources.empty()) {
    s.sources.push_back(EgressSource{});
  }
  sources_now_.clear();
  for (auto& src : s.sources) {
    if (src.ehlo.empty()) {
      src.ehlo = node_name_;
    }
    egress_objects_.push_back(src);
    sources_now_.push_back(&egress_objects_.back());
  }
  if (!s.pools.contains("default")) {
    for (const auto& src : s.sources) {
      s.pools["default"].push_back(src.name);
    }
  }
  pools_ = std::move(s.pools);
  routes_ = std::move(s.routes);
  logger()->info("delivery: {} egress sources, {} pools, {} routes", sources_now_.size(),
                 pools_.size(), routes_.size());
}

DeliveryEngine::~DeliveryEngine() = default;

void DeliveryEngine::start() {
  if (options_.paused) {
    logger()->warn(
        "delivery is paused ([delivery] paused = true): accepted mail stays in the spool");
    return;
  }
  spawn_essential(
      io_.get_executor(), "the delivery scheduler", [this] { return scheduler_loop(this); },
      [this] { return stopping_; });
}

void DeliveryEngine::submit(store::SpoolRecord& record) {
  // Only the envelope and the recipient states stay in memory; the message is read from the
  // spool when a connection is ready for it, unless it was handed over fresh.
  store::SpoolRecord envelope;
  envelope.job_id = record.job_id;
  envelope.account = record.account;
  envelope.sender = record.sender;
  envelope.received_ms = record.received_ms;
  envelope.flags = record.flags;
  envelope.recipients = record.recipients;
  std::shared_ptr<const std::string> message;
  if (record.message.size() >= kFreshMin) {
    message = std::make_shared<const std::string>(std::move(record.message));
  }
  asio::post(io_, [this, envelope = std::move(envelope), message = std::move(message)]() mutable {
    add_job(envelope, std::move(message));
  });
}

void DeliveryEngine::adopt(std::vector<store::SpoolRecord> records) {
  asio::post(io_, [this, records = std::move(records)] {
    for (const auto& r : records) {
      add_job(r, nullptr);
    }
    logger()->info("delivery: {} jobs taken over", records.size());
  });
}

void DeliveryEngine::forget(const JobKey& job) {
  const auto it = jobs_.find(job);
  if (it == jobs_.end()) {
    return;
  }
  logger()->info("job={} left to the node that took this spool over", job_id_of(job));
  // Its units still in ready queues are dropped when taken; they stop counting now.
  release_backlog(it->second.envelope->account, it->second.ready_units);
  drop_fresh(job);
  envelopes_.release(it->second.envelope);
  jobs_.erase(it);
  queued_jobs_.store(jobs_.size(), std::memory_order_relaxed);
}

void DeliveryEngine::drop_fresh(const JobKey& job) {
  const auto it = fresh_.find(job);
  if (it != fresh_.end()) {
    fresh_bytes_ -= it->second->size();
    fresh_.erase(it);
  }
}

void DeliveryEngine::add_job(const store::SpoolRecord& record,
                             std::shared_ptr<const std::string> message) {
  const auto key = job_key(record.job_id);
  if (!key) {
    logger()->error("job={} has no valid job id; left in the spool", printable(record.job_id));
    return;
  }
  if (stopping_ || jobs_.contains(*key)) {
    return;
  }
  // One unit per domain (split at max_recipients), due at its earliest recipient's time.
  std::vector<std::pair<Unit, std::int64_t>> units;
  std::map<std::string, std::size_t> open;
  for (std::uint32_t i = 0; i < record.recipients.size(); ++i) {
    const auto& r = record.recipients[i];
    if (r.status != store::RecipientStatus::kQueued) {
      continue;
    }
    const std::string domain = recipient_domain(r.address);
    const std::size_t limit = *policy_for(domain).max_recipients;
    auto it = open.find(domain);
    if (it == open.end() || units[it->second].first.recipients.size() >= limit) {
      units.emplace_back(Unit{*key, {}}, r.next_attempt_ms);
      it = open.insert_or_assign(domain, units.size() - 1).first;
    }
    auto& [unit, due] = units[it->second];
    unit.recipients.push_back(i);
    due = std::min(due, r.next_attempt_ms);
  }
  if (units.empty()) {
    // Every recipient is final (a crash came between the last update and the erase).
    spool_.erase(record.job_id, [](const Result<void>&) {});
    return;
  }
  Job job;
  job.envelope = envelopes_.acquire(record.account, record.sender, record.flags);
  job.received_ms = record.received_ms;
  job.units_in_flight = static_cast<std::uint32_t>(units.size());
  job.recipients = InlineList<Recipient>(static_cast<std::uint32_t>(record.recipients.size()));
  for (std::uint32_t i = 0; i < record.recipients.size(); ++i) {
    const auto& r = record.recipients[i];
    Recipient& c = job.recipients[i];
    c.address = std::make_unique<char[]>(r.address.size() + 1);
    std::memcpy(c.address.get(), r.address.c_str(), r.address.size() + 1);
    c.next_attempt_s = to_seconds(r.next_attempt_ms);
    c.index = i;
    c.attempts = static_cast<std::uint16_t>(std::min<std::uint32_t>(r.attempts, UINT16_MAX));
    c.status = r.status;
    // "<jobId>#<block hex8>#<index hex8>": keep the two numbers (the record of block k is
    // block_record_id(jobId, k): mail_id_of() gives the same id back).
    const std::string& id = r.mail_id;
    const std::size_t n = record.job_id.size();
    if (id.size() == n + 18 && id[n] == '#' && id[n + 9] == '#') {
      const auto block =
          static_cast<std::uint32_t>(std::strtoul(id.substr(n + 1, 8).c_str(), nullptr, 16));
      const auto index =
          static_cast<std::uint32_t>(std::strtoul(id.substr(n + 10, 8).c_str(), nullptr, 16));
      if (mail_id_of(record.job_id, block, index) == id) {
        c.block = block;
        c.index = index;
      }
    }
  }
  jobs_.emplace(*key, std::move(job));
  spool_.queue_size_hint(jobs_.size());
  queued_jobs_.store(jobs_.size(), std::memory_order_relaxed);
  if (message && !units.empty() && fresh_bytes_ + message->size() <= kFreshBytes) {
    fresh_bytes_ += message->size();
    fresh_.emplace(*key, std::move(message));
  }
  for (auto& [unit, due] : units) {
    schedule(std::move(unit), due);
  }
}

std::vector<store::SpoolRecipient> DeliveryEngine::expand(const std::string& job_id,
                                                          const Job& job) {
  std::vector<store::SpoolRecipient> out;
  out.reserve(job.recipients.size());
  for (const auto& r : job.recipients) {
    out.push_back(store::SpoolRecipient{std::string(r.view()), mail_id_of(job_id, r.block, r.index),
                                        r.status, r.attempts,
                                        static_cast<std::int64_t>(r.next_attempt_s) * 1000});
  }
  return out;
}

std::string DeliveryEngine::domain_of(const Unit& unit) const {
  const auto it = jobs_.find(unit.job);
  if (it == jobs_.end() || unit.recipients.empty()) {
    return {};
  }
  return recipient_domain(it->second.recipients[unit.recipients.front()].view());
}

std::string DeliveryEngine::SharedEnvelopes::key_of(const std::string& account,
                                                    const std::string& sender,
                                                    std::uint32_t flags) {
  std::string key = std::to_string(flags);
  key.append(1, '\0').append(account).append(1, '\0').append(sender);
  return key;
}

const DeliveryEngine::Envelope* DeliveryEngine::SharedEnvelopes::acquire(const std::string& account,
                                                                         const std::string& sender,
                                                                         std::uint32_t flags) {
  auto [it, inserted] = entries_.try_emplace(key_of(account, sender, flags));
  if (inserted) {
    it->second.first = Envelope{account, sender, flags};
  }
  ++it->second.second;
  return &it->second.first;
}

void DeliveryEngine::SharedEnvelopes::release(const Envelope* e) {
  const auto it = entries_.find(key_of(e->account, e->sender, e->flags));
  if (it != entries_.end() && --it->second.second == 0) {
    entries_.erase(it);
  }
}

namespace {

// The heap's order: the earliest due time on top.
constexpr auto kLater = [](const auto& a, const auto& b) {
  return a.due_ms > b.due_ms;
};

}  // namespace

void DeliveryEngine::schedule(Unit unit, std::int64_t due_ms) {
  const bool earliest = scheduled_.empty() || due_ms < scheduled_.front().due_ms;
  scheduled_.push_back(Scheduled{due_ms, std::move(unit)});
  std::push_heap(scheduled_.begin(), scheduled_.end(), kLater);
  if (earliest) {
    wake_.cancel();  // the scheduler sleeps until the new earliest time
  }
}

awaitable<void> DeliveryEngine::scheduler_loop(DeliveryEngine* self) {
  auto& heap = self->scheduled_;
  while (!self->stopping_) {
    const std::int64_t now = now_ms();
    // Due units are routed at most max_dns_lookups at a time: a million due units to a
    // million domains do not become a million lookups and coroutines at once. A routing that
    // ends wakes this loop (dispatch), so the rest follow without polling.
    // Nothing is routed while the spool may not be delivered from (cluster mode: the lease
    // lapsed); the loop looks again every 250 ms.
    const bool may_deliver = self->spool_.may_deliver();
    // Pauses whose time came give their units back, due now.
    const std::int64_t pause_ends = self->has_pauses() ? self->end_pauses(now) : INT64_MAX;
    while (may_deliver && !heap.empty() && heap.front().due_ms <= now && !self->stopping_
           && self->routing_ < self->options_.max_dns_lookups && self->heap_walks_ == 0) {
      std::pop_heap(heap.begin(), heap.end(), kLater);
      Unit unit = std::move(heap.back().unit);
      heap.pop_back();
      ++self->routing_;
      asio::co_spawn(self->io_, dispatch(self, std::move(unit)), log_failure("a delivery routing"));
    }
    if (now - self->last_sweep_ms_ >= 60'000) {
      self->last_sweep_ms_ = now;
      self->sweep_ready_queues(now);
    }
    const bool blocked = !heap.empty() && heap.front().due_ms <= now;  // by max_dns_lookups
    auto wait = !may_deliver              ? std::chrono::milliseconds(250)
                : heap.empty() || blocked ? std::chrono::milliseconds(60'000)
                                          : std::chrono::milliseconds(heap.front().due_ms - now);
    if (pause_ends != INT64_MAX) {
      wait = std::min(wait, std::chrono::milliseconds(std::max<std::int64_t>(pause_ends - now, 0)));
    }
    self->wake_.expires_after(
        std::min<std::chrono::milliseconds>(wait, std::chrono::milliseconds(60'000)));
    co_await self->wake_.async_wait(use_tuple);
  }
}

DestinationPolicy DeliveryEngine::policy_for(const std::string& domain) const {
  DestinationPolicy p;
  for (const auto& candidate : options_.policies) {
    if (candidate.domain == domain) {
      p = candidate;
      break;
    }
  }
  if (!p.max_connections) {
    p.max_connections = options_.max_connections_per_site;
  }
  if (!p.max_messages_per_connection) {
    p.max_messages_per_connection = options_.max_messages_per_connection;
  }
  if (!p.max_recipients) {
    p.max_recipients = options_.max_recipients_per_transaction;
  }
  if (options_.return_path) {
    // Each recipient has its own envelope sender: one per unit, so a unit is one transaction
    // and the per-connection, rate and ownership checks of the worker count each message.
    p.max_recipients = 1;
  }
  if (!p.rate) {
    p.rate = options_.rate_per_site;
  }
  if (!p.tls) {
    p.tls = options_.tls;
  }
  return p;
}

std::optional<smtp::Route> DeliveryEngine::route_for(const std::string& domain) const {
  const RouteRule* wildcard = nullptr;
  for (const auto& rule : routes_) {
    if (rule.domain == domain) {
      return rule.route;
    }
    if (rule.domain == "*") {
      wildcard = &rule;
    }
  }
  return wildcard != nullptr ? std::optional<smtp::Route>(wildcard->route) : std::nullopt;
}

const EgressSource& DeliveryEngine::pick_source(const std::string& account) {
  std::string pool = pool_of_ ? pool_of_(account) : std::string();
  if (pool.empty() || !pools_.contains(pool)) {
    pool = "default";
  }
  const auto& names = pools_[pool];
  const std::size_t i = pool_cursor_[pool]++ % std::max<std::size_t>(names.size(), 1);
  for (const auto* s : sources_now_) {
    if (!names.empty() && s->name == names[i]) {
      return *s;
    }
  }
  return *sources_now_.front();
}

void DeliveryEngine::routing_done() {
  if (routing_-- == options_.max_dns_lookups) {
    wake_.cancel();  // the scheduler waited for a routing slot
  }
}

// The routing slot is given back on every way out but one: a coroutine destroyed while
// suspended (the node stopping) touches nothing, since the engine may be gone by then.
awaitable<void> DeliveryEngine::dispatch(DeliveryEngine* self, Unit unit) {
  if (!self->jobs_.contains(unit.job)) {
    self->routing_done();
    co_return;
  }
  if (self->sandboxed(unit)) {  // nothing to route: nothing leaves the machine
    self->routing_done();
    co_await self->capture_unit(std::move(unit));
    co_return;
  }
  std::string domain = self->domain_of(unit);
  if (self->has_pauses()) {  // a paused domain's unit is held before its MX lookup
    if (PauseState* pause = self->pause_of(domain, "")) {
      self->routing_done();
      self->hold(std::move(unit), domain, *pause);
      co_return;
    }
  }
  const auto route = self->route_for(domain);
  Result<smtp::Destination> dest = make_error(ErrorCode::kDnsTemporary, "routing failed");
  try {
    dest =
        co_await smtp::resolve_destination(self->resolver_, domain, route, self->options_.mx_port);
  } catch (const std::exception& e) {
    logger()->error("delivery routing of {} failed with an exception: {}", domain, e.what());
  }
  self->routing_done();
  self->route(std::move(unit), domain, std::move(dest));
}

void DeliveryEngine::route(Unit unit, const std::string& domain, Result<smtp::Destination> dest) {
  if (!jobs_.contains(unit.job)) {
    return;
  }
  if (!dest) {
    // A domain paused during its lookup, or a paused site's domain whose lookup fails now,
    // stays held.
    if (has_pauses()) {
      PauseState* pause = pause_of(domain, "");
      if (pause == nullptr) {
        pause = site_pause_holding(domain);
      }
      if (pause != nullptr) {
        hold(std::move(unit), domain, *pause);
        return;
      }
    }
    // Only this unit's destination is affected: a failed or timed-out lookup defers (or, when
    // the domain does not exist, bounces) this unit alone.
    if (classify(dest.error().code).persistence == Persistence::kPermanent) {
      bounce_unit(unit, dest.error().detail);
    } else {
      defer_unit(unit, "", dest.error().detail);
    }
    return;
  }
  if (has_pauses()) {
    if (PauseState* pause = pause_of(domain, dest->site)) {
      hold(std::move(unit), domain, *pause);
      return;
    }
  }
  const Job& job = jobs_.at(unit.job);
  const EgressSource& egress = pick_source(job.envelope->account);
  std::string key = egress.name + "|" + dest->site;
  auto it = ready_.find(std::string_view{key});
  if (it == ready_.end()) {
    auto rq = std::make_unique<ReadyQueue>();
    rq->key = std::move(key);
    rq->egress = &egress;
    rq->source = &source_state(egress.name);
    rq->limits = policy_for(domain);
    rq->limits.domain.clear();
    rq->rate = Gcra(*rq->limits.rate, 1.0);
    const std::string_view view(rq->key);
    it = ready_.emplace(view, std::move(rq)).first;
    ready_queues_.store(ready_.size(), std::memory_order_relaxed);
  }
  ReadyQueue& rq = *it->second;
  rq.egress = &egress;  // the settings may have changed the source since the queue was made
  rq.destination = std::move(*dest);
  if (rq.domains.size() < kMaxQueueDomains
      && std::ranges::find(rq.domains, domain) == rq.domains.end()) {
    rq.domains.push_back(domain);
  }
  if (rq.backoff_until_ms > now_ms()) {
    // The whole site is backed off: this unit is deferred with the site's last answer, and
    // nobody knocks again before the back-off ends.
    settle_unit(unit, backed_off(rq), rq.destination.site);
    return;
  }
  ready_added(unit);
  rq.units.push_back(std::move(unit));
  if (!rq.idle.empty()) {  // an open connection takes it now
    IdleWait* w = rq.idle.front();
    rq.idle.erase(rq.idle.begin());
    std::erase(rq.source->idle, w);
    w->timer.cancel();
    return;
  }
  maybe_start_worker(rq);
}

void DeliveryEngine::stop(std::function<void()> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    stopping_ = true;
    wake_.cancel();
    for (auto& [key, rq] : ready_) {  // idle connections quit now
      for (auto* w : rq->idle) {
        w->give_back = true;
        w->timer.cancel();
      }
      rq->idle.clear();
    }
    for (auto& [name, source] : sources_) {
      source.idle.clear();
    }
    if (connections_ == 0) {
      done();
      return;
    }
    on_stopped_ = std::move(done);
    stop_timer_.expires_after(std::chrono::seconds(10));
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !on_stopped_) {
        return;
      }
      logger()->warn("delivery stop: {} connections still busy; their recipients stay queued",
                     connections_);
      auto stopped = std::move(on_stopped_);
      on_stopped_ = nullptr;
      stopped();
    });
  });
}

}  // namespace txmail::queue
