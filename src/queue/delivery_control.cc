// The operator's hand on the queues (queue_view.h): a view of the ready queues and of the
// schedule, pauses of a destination site or a recipient domain, and retries now. Everything
// runs on the engine's io_context, like the rest of its state.
#include <algorithm>
#include <unordered_map>

#include "common/log.h"
#include "queue/delivery_engine.h"

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
    if (it == map.end()) {
      return nullptr;
    }
    if (it->second.until_ms != 0 && it->second.until_ms <= now) {
      logger()->info("delivery: the pause of {} has ended", name);
      map.erase(it);
      return nullptr;
    }
    return &it->second;
  };
  if (PauseState* p = in_force(paused_domains_, domain)) {
    return p;
  }
  return in_force(paused_sites_, site);
}

void DeliveryEngine::hold(Unit unit, const std::string& domain, PauseState& pause) {
  if (pause.domains.size() < kMaxPauseDomains
      && std::ranges::find(pause.domains, domain) == pause.domains.end()) {
    pause.domains.push_back(domain);
  }
  std::int64_t due = now_ms() + kPauseRecheckMs;
  if (pause.until_ms != 0) {
    due = std::min(due, pause.until_ms);
  }
  schedule(std::move(unit), due);  // the job keeps this unit in flight
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
      std::vector<std::string> domains = std::move(it->second.domains);
      map.erase(it);
      if (!what.site) {
        domains = {what.name};
      }
      r.brought_forward = bring_forward([&domains](const std::string& d) {
        return std::ranges::find(domains, d) != domains.end();
      });
      logger()->info("delivery: {} {} resumed; {} units due now", what.site ? "site" : "domain",
                     what.name, r.brought_forward);
    }
    view_cache_.reset();
    done(r);
  });
}

void DeliveryEngine::retry_now(QueueSelector what, std::function<void(QueueActionResult)> done) {
  on_engine(io_,
            [this, what = std::move(what), done = std::move(done)] { done(do_retry_now(what)); });
}

QueueActionResult DeliveryEngine::do_retry_now(const QueueSelector& what) {
  QueueActionResult r;
  std::vector<std::string> domains;
  if (!what.site) {
    domains.push_back(what.name);
  }
  for (auto& [key, rq] : ready_) {
    ReadyQueue& q = *rq;
    const bool named = what.site ? q.destination.site == what.name
                                 : std::ranges::find(q.domains, what.name) != q.domains.end();
    if (!named) {
      continue;
    }
    r.found = true;
    if (what.site) {
      domains.insert(domains.end(), q.domains.begin(), q.domains.end());
    }
    if (q.backoff_until_ms > now_ms()) {
      q.backoff_until_ms = 0;
      q.failures = 0;
      ++r.backoffs_cleared;
    }
    for (const auto& peer : q.destination.peers) {
      q.source->addresses.forgive(peer);
    }
  }
  r.brought_forward = bring_forward(
      [&domains](const std::string& d) { return std::ranges::find(domains, d) != domains.end(); });
  r.found = r.found || r.brought_forward > 0;
  view_cache_.reset();
  logger()->info("delivery: retry now of {} {}: {} back-offs ended, {} units due now",
                 what.site ? "site" : "domain", what.name, r.backoffs_cleared, r.brought_forward);
  return r;
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
  for (const auto& s : scheduled_) {
    const auto job = jobs_.find(s.unit.job);
    if (job == jobs_.end() || s.unit.recipients.empty()) {
      continue;
    }
    v.waiting_recipients += s.unit.recipients.size();
    std::string domain = quick_domain(job->second.recipients[s.unit.recipients.front()].view());
    auto it = by_domain.find(domain);
    if (it == by_domain.end()) {
      if (by_domain.size() >= kMaxDomains) {
        v.waiting_truncated = true;
        continue;
      }
      it = by_domain.emplace(domain, QueueView::Waiting{}).first;
      it->second.domain = std::move(domain);
      it->second.next_attempt_ms = s.due_ms;
      it->second.oldest_ms = job->second.received_ms;
    }
    QueueView::Waiting& w = it->second;
    w.recipients += s.unit.recipients.size();
    w.next_attempt_ms = std::min(w.next_attempt_ms, s.due_ms);
    w.oldest_ms = std::min(w.oldest_ms, job->second.received_ms);
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
