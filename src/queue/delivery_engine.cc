#include "queue/delivery_engine.h"

#include <algorithm>
#include <cstdlib>

#include "common/ids.h"
#include "common/log.h"
#include "smtp/client/mx_walk.h"

namespace txmail::queue {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::string domain_of(const std::string& address) {
  const std::size_t at = address.rfind('@');
  std::string d = at == std::string::npos ? std::string() : address.substr(at + 1);
  std::transform(d.begin(), d.end(), d.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return d;
}

}  // namespace

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
  if (options_.sources.empty()) {
    options_.sources.push_back(EgressSource{});
  }
  for (auto& s : options_.sources) {
    if (s.ehlo.empty()) {
      s.ehlo = node_name_;
    }
  }
  if (!options_.pools.contains("default")) {
    for (const auto& s : options_.sources) {
      options_.pools["default"].push_back(s.name);
    }
  }
}

DeliveryEngine::~DeliveryEngine() = default;

void DeliveryEngine::start() {
  if (options_.paused) {
    logger()->warn(
        "delivery is paused ([delivery] paused = true): accepted mail stays in the spool");
    return;
  }
  asio::co_spawn(io_, scheduler_loop(this), asio::detached);
}

void DeliveryEngine::submit(const store::SpoolRecord& record) {
  // Only the envelope and the recipient states stay in memory; the message is read from the
  // spool when a connection is ready for it.
  store::SpoolRecord envelope;
  envelope.job_id = record.job_id;
  envelope.account = record.account;
  envelope.sender = record.sender;
  envelope.received_ms = record.received_ms;
  envelope.flags = record.flags;
  envelope.recipients = record.recipients;
  asio::post(io_, [this, envelope = std::move(envelope)] { add_job(envelope); });
}

void DeliveryEngine::add_job(const store::SpoolRecord& record) {
  if (stopping_ || jobs_.contains(record.job_id)) {
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
    const std::string domain = domain_of(r.address);
    const std::size_t limit = *policy_for(domain).max_recipients;
    auto it = open.find(domain);
    if (it == open.end() || units[it->second].first.recipients.size() >= limit) {
      units.emplace_back(Unit{record.job_id, domain, {}}, r.next_attempt_ms);
      it = open.insert_or_assign(domain, units.size() - 1).first;
    }
    auto& [unit, due] = units[it->second];
    unit.recipients.push_back(i);
    due = std::min(due, r.next_attempt_ms);
  }
  if (units.empty()) {
    // Every recipient is final (a crash came between the last update and the erase).
    spool_.erase(record.job_id, [](Result<void>) {});
    return;
  }
  jobs_.emplace(record.job_id, Job{record.account, record.sender, record.received_ms, record.flags,
                                   static_cast<std::uint32_t>(units.size()),
                                   compact(record.job_id, record.recipients)});
  for (auto& [unit, due] : units) {
    schedule(std::move(unit), due);
  }
}

std::vector<DeliveryEngine::Recipient> DeliveryEngine::compact(
    const std::string& job_id, const std::vector<store::SpoolRecipient>& recipients) {
  std::vector<Recipient> out;
  out.reserve(recipients.size());
  for (std::uint32_t i = 0; i < recipients.size(); ++i) {
    const auto& r = recipients[i];
    Recipient c{r.address, r.next_attempt_ms, r.attempts, 0, i, r.status};
    // "<jobId>#<block hex8>#<index hex8>": keep the two numbers.
    const std::string& id = r.mail_id;
    if (id.size() == job_id.size() + 18 && id.starts_with(job_id)) {
      c.block = static_cast<std::uint32_t>(
          std::strtoul(id.substr(job_id.size() + 1, 8).c_str(), nullptr, 16));
      c.index = static_cast<std::uint32_t>(
          std::strtoul(id.substr(job_id.size() + 10, 8).c_str(), nullptr, 16));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<store::SpoolRecipient> DeliveryEngine::expand(const std::string& job_id,
                                                          const Job& job) {
  std::vector<store::SpoolRecipient> out;
  out.reserve(job.recipients.size());
  for (const auto& r : job.recipients) {
    out.push_back(store::SpoolRecipient{r.address, mail_id(job_id, r.block, r.index), r.status,
                                        r.attempts, r.next_attempt_ms});
  }
  return out;
}

void DeliveryEngine::schedule(Unit unit, std::int64_t due_ms) {
  const bool earliest = scheduled_.empty() || due_ms < scheduled_.begin()->first;
  scheduled_.emplace(due_ms, std::move(unit));
  if (earliest) {
    wake_.cancel();  // the scheduler sleeps until the new earliest time
  }
}

awaitable<void> DeliveryEngine::scheduler_loop(DeliveryEngine* self) {
  while (!self->stopping_) {
    const std::int64_t now = now_ms();
    while (!self->scheduled_.empty() && self->scheduled_.begin()->first <= now
           && !self->stopping_) {
      Unit unit = std::move(self->scheduled_.begin()->second);
      self->scheduled_.erase(self->scheduled_.begin());
      asio::co_spawn(self->io_, dispatch(self, std::move(unit)), asio::detached);
    }
    const auto wait = self->scheduled_.empty()
                          ? std::chrono::milliseconds(60'000)
                          : std::chrono::milliseconds(self->scheduled_.begin()->first - now);
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
  if (!p.max_connections)
    p.max_connections = options_.max_connections_per_site;
  if (!p.max_messages_per_connection)
    p.max_messages_per_connection = options_.max_messages_per_connection;
  if (!p.max_recipients)
    p.max_recipients = options_.max_recipients_per_transaction;
  if (!p.rate)
    p.rate = options_.rate_per_site;
  if (!p.tls)
    p.tls = options_.tls;
  return p;
}

std::optional<smtp::Route> DeliveryEngine::route_for(const std::string& domain) const {
  const RouteRule* wildcard = nullptr;
  for (const auto& rule : options_.routes) {
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
  if (pool.empty() || !options_.pools.contains(pool)) {
    pool = "default";
  }
  const auto& names = options_.pools[pool];
  const std::size_t i = pool_cursor_[pool]++ % std::max<std::size_t>(names.size(), 1);
  for (const auto& s : options_.sources) {
    if (!names.empty() && s.name == names[i]) {
      return s;
    }
  }
  return options_.sources.front();
}

awaitable<void> DeliveryEngine::dispatch(DeliveryEngine* self, Unit unit) {
  const auto route = self->route_for(unit.domain);
  auto dest = co_await smtp::resolve_destination(self->resolver_, unit.domain, route,
                                                 self->options_.mx_port);
  if (!self->jobs_.contains(unit.job_id)) {
    co_return;
  }
  if (!dest) {
    if (classify(dest.error().code).persistence == Persistence::kPermanent) {
      self->bounce_unit(unit, dest.error().detail);
    } else {
      self->defer_unit(unit, "", dest.error().detail);
    }
    co_return;
  }
  const Job& job = self->jobs_.at(unit.job_id);
  const EgressSource& source = self->pick_source(job.account);
  const std::string key = source.name + "|" + dest->site;
  auto& slot = self->ready_[key];
  if (!slot) {
    slot = std::make_unique<ReadyQueue>();
    slot->key = key;
    slot->source = source;
    slot->limits = self->policy_for(unit.domain);
    slot->rate = Gcra(*slot->limits.rate, 1.0);
  }
  ReadyQueue& rq = *slot;
  rq.destination = std::move(*dest);
  if (rq.backoff_until_ms > now_ms()) {
    // The whole site is backed off: this unit is deferred with the site's last answer, and
    // nobody knocks again before the back-off ends.
    self->defer_unit(unit, rq.destination.site, "destination site backed off: " + rq.last_error);
    co_return;
  }
  rq.units.push_back(std::move(unit));
  self->maybe_start_worker(rq);
}

void DeliveryEngine::stop(std::function<void()> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    stopping_ = true;
    wake_.cancel();
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
