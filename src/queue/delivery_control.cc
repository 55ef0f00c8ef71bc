// The operator's hand on the queues (queue_view.h): a view of the ready queues and of the
// schedule, pauses of a destination site or a recipient domain, and retries now. Everything
// runs on the engine's io_context, like the rest of its state.
#include <algorithm>
#include <unordered_map>

#include "common/log.h"
#include "queue/delivery_engine.h"
#include "smtp/client/mx_walk.h"

namespace txmail::queue {

namespace {

// The unit's domain as recipient_domain() gives it, without its IDNA work when the address is
// ASCII (a view walks every unit in the schedule).
std::string quick_domain(std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) {
    return {};
  }
  std::string d(address.substr(at + 1));
  for (char& c : d) {
    if ((static_cast<unsigned char>(c) & 0x80) != 0) {
      return recipient_domain(address);
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return d;
}

template <typename Action>
void on_engine(asio::io_context& io, Action action) {
  asio::post(io, std::move(action));
}

}  // namespace

DeliveryEngine::PauseState* DeliveryEngine::pause_of(const std::string& domain,
                                                     const std::string& site) {
  const std::int64_t now = now_ms();
  auto in_force = [now](std::map<std::string, PauseState>& map,
                        const std::string& name) -> PauseState* {
    const auto it = map.find(name);
    // An ended pause is left to end_pauses(), which gives its units back.
    return it == map.end() || (it->second.until_ms != 0 && it->second.until_ms <= now)
               ? nullptr
               : &it->second;
  };
  if (PauseState* p = in_force(paused_domains_, domain)) {
    return p;
  }
  return site.empty() ? nullptr : in_force(paused_sites_, site);
}

DeliveryEngine::PauseState* DeliveryEngine::site_pause_holding(const std::string& domain) {
  const std::int64_t now = now_ms();
  for (auto& [site, p] : paused_sites_) {
    if ((p.until_ms == 0 || p.until_ms > now)
        && std::ranges::find(p.domains, domain) != p.domains.end()) {
      return &p;
    }
  }
  return nullptr;
}

bool DeliveryEngine::hold_if_paused(Unit& unit, const std::string& site) {
  if (!has_pauses()) {
    return false;
  }
  const std::string domain = domain_of(unit);
  PauseState* pause = pause_of(domain, site);
  if (pause == nullptr) {
    return false;
  }
  hold(std::move(unit), domain, *pause);
  return true;
}

void DeliveryEngine::hold(Unit unit, const std::string& domain, PauseState& pause) {
  if (pause.domains.size() < kMaxPauseDomains
      && std::ranges::find(pause.domains, domain) == pause.domains.end()) {
    pause.domains.push_back(domain);
  }
  pause.held.push_back(std::move(unit));  // the job keeps this unit in flight
}

std::size_t DeliveryEngine::hold_ready() {
  std::size_t held = 0;
  for (auto& [key, rq] : ready_) {
    ReadyQueue& q = *rq;
    if (q.units.empty()) {
      continue;
    }
    Fifo<Unit> kept;
    q.units.drain([&](Unit unit) {
      const std::string domain = domain_of(unit);
      if (PauseState* pause = pause_of(domain, q.destination.site)) {
        ready_taken(unit);
        hold(std::move(unit), domain, *pause);
        ++held;
      } else {
        kept.push_back(std::move(unit));
      }
    });
    q.units = std::move(kept);
  }
  // Queues left empty go at the next sweep (a pinned caller may still hold one).
  return held;
}

std::size_t DeliveryEngine::release(PauseState& pause) {
  const std::size_t n = pause.held.size();
  const std::int64_t now = now_ms();
  for (auto& unit : pause.held) {
    schedule(std::move(unit), now);
  }
  pause.held.clear();
  return n;
}

std::int64_t DeliveryEngine::end_pauses(std::int64_t now) {
  std::int64_t next = INT64_MAX;
  for (auto* map : {&paused_sites_, &paused_domains_}) {
    for (auto it = map->begin(); it != map->end();) {
      if (it->second.until_ms == 0 || it->second.until_ms > now) {
        if (it->second.until_ms != 0) {
          next = std::min(next, it->second.until_ms);
        }
        ++it;
        continue;
      }
      const std::size_t n = release(it->second);
      logger()->info("delivery: the pause of {} has ended; {} units due now", it->first, n);
      it = map->erase(it);
      view_cache_.reset();
    }
  }
  return next;
}

std::size_t DeliveryEngine::bring_forward(
    const std::function<bool(const std::string& domain)>& wanted) {
  const std::int64_t now = now_ms();
  std::size_t n = 0;
  for (auto& s : scheduled_) {
    if (s.due_ms <= now) {
      continue;
    }
    const auto job = jobs_.find(s.unit.job);
    if (job == jobs_.end() || s.unit.recipients.empty()) {
      continue;
    }
    if (wanted(quick_domain(job->second.recipients[s.unit.recipients.front()].view()))) {
      s.due_ms = now;
      ++n;
    }
  }
  if (n > 0) {
    std::ranges::make_heap(scheduled_, [](const Scheduled& a, const Scheduled& b) {
      return a.due_ms > b.due_ms;  // the scheduler's order: the earliest on top
    });
    wake_.cancel();
  }
  return n;
}

void DeliveryEngine::pause(QueueSelector what, std::int64_t until_ms,
                           std::function<void(QueueActionResult)> done) {
  on_engine(io_, [this, what = std::move(what), until_ms, done = std::move(done)] {
    auto& map = what.site ? paused_sites_ : paused_domains_;
    PauseState& p = map[what.name];
    if (p.since_ms == 0) {
      p.since_ms = now_ms();
    }
    p.until_ms = until_ms;
    view_cache_.reset();
    wake_.cancel();  // the scheduler sleeps until the pause's end at the most
    QueueActionResult r;
    r.found = true;
    r.held = hold_ready();
    logger()->info("delivery: {} {} paused{}; {} waiting units held", what.site ? "site" : "domain",
                   what.name, until_ms != 0 ? " until " + iso8601_ms(until_ms) : "", r.held);
    done(r);
  });
}

void DeliveryEngine::resume(QueueSelector what, std::function<void(QueueActionResult)> done) {
  on_engine(io_, [this, what = std::move(what), done = std::move(done)] {
    auto& map = what.site ? paused_sites_ : paused_domains_;
    QueueActionResult r;
    const auto it = map.find(what.name);
    if (it != map.end()) {
      r.found = true;
      r.brought_forward = release(it->second);
      map.erase(it);
      logger()->info("delivery: {} {} resumed; {} units due now", what.site ? "site" : "domain",
                     what.name, r.brought_forward);
    }
    view_cache_.reset();
    done(r);
  });
}

void DeliveryEngine::clear_backoff(const std::string& site, QueueActionResult& r,
                                   std::vector<std::string>& domains) {
  for (auto& [key, rq] : ready_) {
    ReadyQueue& q = *rq;
    if (q.destination.site != site) {
      continue;
    }
    r.found = true;
    domains.insert(domains.end(), q.domains.begin(), q.domains.end());
    if (q.backoff_until_ms > now_ms()) {
      q.backoff_until_ms = 0;
      q.failures = 0;
      ++r.backoffs_cleared;
    }
    for (const auto& peer : q.destination.peers) {
      q.source->addresses.forgive(peer);
    }
  }
}

void DeliveryEngine::retry_now(QueueSelector what, std::function<void(QueueActionResult)> done) {
  on_engine(io_, [this, what = std::move(what), done = std::move(done)]() mutable {
    if (!what.site) {
      asio::co_spawn(io_, retry_domain(this, std::move(what.name), std::move(done)),
                     log_failure("a retry now"));
      return;
    }
    QueueActionResult r;
    std::vector<std::string> domains;
    clear_backoff(what.name, r, domains);
    r.brought_forward = bring_forward([&domains](const std::string& d) {
      return std::ranges::find(domains, d) != domains.end();
    });
    view_cache_.reset();
    logger()->info("delivery: retry now of site {}: {} back-offs ended, {} units due now",
                   what.name, r.backoffs_cleared, r.brought_forward);
    done(r);
  });
}

// A domain's site is what its MX lookup says now (the queues remember only a few domains each):
// that site's back-off ends, then the domain's waiting units are due.
awaitable<void> DeliveryEngine::retry_domain(DeliveryEngine* self, std::string domain,
                                             std::function<void(QueueActionResult)> done) {
  QueueActionResult r;
  std::vector<std::string> ignored;
  try {
    auto dest = co_await smtp::resolve_destination(self->resolver_, domain, self->route_for(domain),
                                                   self->options_.mx_port);
    if (dest) {
      self->clear_backoff(dest->site, r, ignored);
    }
  } catch (const std::exception& e) {
    logger()->warn("delivery: retry now of {}: its destination was not found: {}", domain,
                   e.what());
  }
  r.brought_forward = self->bring_forward([&domain](const std::string& d) { return d == domain; });
  r.found = r.found || r.brought_forward > 0;
  self->view_cache_.reset();
  logger()->info("delivery: retry now of domain {}: {} back-offs ended, {} units due now", domain,
                 r.backoffs_cleared, r.brought_forward);
  done(r);
}

void DeliveryEngine::view(std::function<void(std::shared_ptr<const QueueView>)> done) {
  on_engine(io_, [this, done = std::move(done)] { done(take_view()); });
}

std::shared_ptr<const QueueView> DeliveryEngine::take_view() {
  const std::int64_t now = now_ms();
  if (view_cache_ && now - view_cache_->taken_ms < 1000 && now >= view_cache_->taken_ms) {
    return view_cache_;
  }
  auto v = std::make_shared<QueueView>();
  v->taken_ms = now;
  v->jobs = jobs_.size();
  v->connections = connections_;
  for (const auto& [key, job] : jobs_) {
    if (v->oldest_ms == 0 || job.received_ms < v->oldest_ms) {
      v->oldest_ms = job.received_ms;
    }
  }
  view_waiting(*v);
  view_destinations(*v);
  for (const auto* map : {&paused_sites_, &paused_domains_}) {
    for (const auto& [name, p] : *map) {
      if (p.until_ms == 0 || p.until_ms > now) {
        v->pauses.push_back(QueueView::Pause{map == &paused_sites_, name, p.since_ms, p.until_ms});
      }
    }
  }
  v->waiting_by_domain.clear();
  view_cache_ = v;
  return v;
}

void DeliveryEngine::view_destinations(QueueView& v) const {
  const std::int64_t now = now_ms();
  for (const auto& [key, rq] : ready_) {
    QueueView::Destination d;
    d.source = rq->egress->name;
    d.site = rq->destination.site;
    d.domains = rq->domains;
    d.units = rq->units.size();
    d.connections = rq->connections;
    for (const auto& domain : d.domains) {
      if (const auto w = v.waiting_by_domain.find(domain); w != v.waiting_by_domain.end()) {
        d.waiting_recipients += w->second;
      }
    }
    rq->units.for_each([&](const Unit& u) {
      d.recipients += u.recipients.size();
      if (const auto job = jobs_.find(u.job); job != jobs_.end()) {
        if (d.oldest_ms == 0 || job->second.received_ms < d.oldest_ms) {
          d.oldest_ms = job->second.received_ms;
        }
      }
    });
    if (rq->backoff_until_ms > now) {
      d.backoff_until_ms = rq->backoff_until_ms;
      d.failures = rq->failures;
      d.last_reply = rq->last.detail;
    }
    const auto pause = paused_sites_.find(d.site);
    d.paused = pause != paused_sites_.end()
               && (pause->second.until_ms == 0 || pause->second.until_ms > now);
    v.ready_recipients += d.recipients;
    v.destinations.push_back(std::move(d));
  }
  std::ranges::sort(v.destinations, [](const auto& a, const auto& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients : a.site < b.site;
  });
  if (v.destinations.size() > QueueView::kMaxDestinations) {
    v.destinations.resize(QueueView::kMaxDestinations);
    v.destinations_truncated = true;
  }
}

void DeliveryEngine::view_waiting(QueueView& v) const {
  // Grouped by domain: at most this many domains are told apart (a million queued domains
  // would otherwise cost a map of a million); the rest count in the totals only.
  constexpr std::size_t kMaxDomains = 10'000;
  const std::int64_t now = now_ms();
  std::unordered_map<std::string, QueueView::Waiting> by_domain;
  // One unit: due at `due_ms` (0: held by a pause).
  auto count = [&](const Unit& unit, std::int64_t due_ms) {
    const auto job = jobs_.find(unit.job);
    if (job == jobs_.end() || unit.recipients.empty()) {
      return;
    }
    v.waiting_recipients += unit.recipients.size();
    std::string domain = quick_domain(job->second.recipients[unit.recipients.front()].view());
    auto it = by_domain.find(domain);
    if (it == by_domain.end()) {
      if (by_domain.size() >= kMaxDomains) {
        v.waiting_truncated = true;
        return;
      }
      it = by_domain.emplace(domain, QueueView::Waiting{}).first;
      it->second.domain = std::move(domain);
      it->second.oldest_ms = job->second.received_ms;
    }
    QueueView::Waiting& w = it->second;
    w.recipients += unit.recipients.size();
    if (due_ms == 0) {
      w.held += unit.recipients.size();
    } else if (w.next_attempt_ms == 0 || due_ms < w.next_attempt_ms) {
      w.next_attempt_ms = due_ms;
    }
    w.oldest_ms = std::min(w.oldest_ms, job->second.received_ms);
  };
  for (const auto& s : scheduled_) {
    count(s.unit, s.due_ms);
  }
  for (const auto* map : {&paused_sites_, &paused_domains_}) {
    for (const auto& [name, p] : *map) {
      for (const auto& unit : p.held) {
        count(unit, 0);
      }
    }
  }
  v.waiting.reserve(by_domain.size());
  v.waiting_by_domain.reserve(by_domain.size());
  for (auto& [name, w] : by_domain) {
    v.waiting_by_domain.emplace(name, w.recipients);
    const auto pause = paused_domains_.find(name);
    w.paused = pause != paused_domains_.end()
               && (pause->second.until_ms == 0 || pause->second.until_ms > now);
    v.waiting.push_back(std::move(w));
  }
  std::ranges::sort(v.waiting, [](const auto& a, const auto& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients : a.domain < b.domain;
  });
  if (v.waiting.size() > QueueView::kMaxWaiting) {
    v.waiting.resize(QueueView::kMaxWaiting);
    v.waiting_truncated = true;
  }
}

}  // namespace txmail::queue
