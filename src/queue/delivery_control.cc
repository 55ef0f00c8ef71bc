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

template <typename Action>
void on_engine(asio::io_context& io, Action action) {
  asio::post(io, std::move(action));
}

// Whether the address's domain is one of `domains` (A-labels, lower case), without allocating
// when it is ASCII (a retry walks every unit in the schedule).
bool domain_among(std::string_view address, const std::vector<std::string>& domains) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) {
    return false;
  }
  const std::string_view d = address.substr(at + 1);
  if (d.starts_with('[') || !std::ranges::all_of(d, [](char c) {
        return (static_cast<unsigned char>(c) & 0x80) == 0;
      })) {
    return std::ranges::find(domains, recipient_domain(address)) != domains.end();
  }
  return std::ranges::any_of(domains, [d](const std::string& w) {
    return w.size() == d.size() && std::equal(w.begin(), w.end(), d.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  });
}

}  // namespace

DeliveryEngine::PauseState* DeliveryEngine::pause_of(const std::string& domain,
                                                     const std::string& site) {
  const std::int64_t now = now_ms();
  auto in_force = [now](std::map<std::string, PauseState>& map,
                        const std::string& name) -> PauseState* {
    const auto it = map.find(name);
    return it == map.end() || !it->second.in_force(now) ? nullptr : &it->second;
  };
  if (PauseState* p = in_force(paused_domains_, domain)) {
    return p;
  }
  return site.empty() ? nullptr : in_force(paused_sites_, site);
}

DeliveryEngine::PauseState* DeliveryEngine::site_pause_holding(const std::string& domain) {
  const std::int64_t now = now_ms();
  for (auto& [site, p] : paused_sites_) {
    if (p.in_force(now) && std::ranges::find(p.domains, domain) != p.domains.end()) {
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
      if (it->second.in_force(now)) {
        if (it->second.until_ms != 0) {
          next = std::min(next, it->second.until_ms);
        }
        ++it;
        continue;
      }
      const std::size_t n = release(it->second);
      logger()->info("delivery: the pause of {} has ended; {} units due now", it->first, n);
      it = map->erase(it);
      view_changed();
    }
  }
  return next;
}

// In slices of kViewSlice units, the engine's other work in between. A unit made due sifts up
// the heap at once (only towards its top, over places already walked), so the heap is whole
// between slices. The scheduler pops nothing while the walk runs (a pop moves the heap's last
// unit, not walked yet, to its top, where the walk would miss it); a unit scheduled meanwhile
// may land on a place already walked and keeps its own time.
awaitable<std::size_t> DeliveryEngine::bring_forward(DeliveryEngine* self,
                                                     std::vector<std::string> domains) {
  constexpr auto kLaterDue = [](const Scheduled& a, const Scheduled& b) {
    return a.due_ms > b.due_ms;  // the scheduler's order: the earliest on top
  };
  std::size_t n = 0;
  auto& heap = self->scheduled_;
  ++self->heap_walks_;
  for (std::size_t i = 0; !domains.empty() && i < heap.size(); ++i) {
    if (i % kViewSlice == kViewSlice - 1) {
      co_await asio::post(self->io_.get_executor(), asio::use_awaitable);
      if (i >= heap.size()) {
        break;
      }
    }
    Scheduled& s = heap[i];
    const std::int64_t now = now_ms();
    if (s.due_ms <= now) {
      continue;
    }
    const auto job = self->jobs_.find(s.unit.job);
    if (job == self->jobs_.end() || s.unit.recipients.empty()) {
      continue;
    }
    if (domain_among(job->second.recipients[s.unit.recipients.front()].view(), domains)) {
      s.due_ms = now;
      std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(i) + 1, kLaterDue);
      ++n;
    }
  }
  --self->heap_walks_;
  self->wake_.cancel();  // the scheduler pops again (and routes what was made due)
  co_return n;
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
    view_changed();
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
    view_changed();
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
    asio::co_spawn(io_, retry(this, std::move(what), std::move(done)), log_failure("a retry now"));
  });
}

// A domain's site is what its MX lookup says now (the queues remember only a few domains each):
// that site's back-off ends, then the domain's waiting units are due. A site's back-off ends,
// then the waiting units of the domains its queues remember are due.
awaitable<void> DeliveryEngine::retry(DeliveryEngine* self, QueueSelector what,
                                      std::function<void(QueueActionResult)> done) {
  QueueActionResult r;
  std::vector<std::string> domains;
  if (what.site) {
    self->clear_backoff(what.name, r, domains);
  } else {
    domains.push_back(what.name);
    std::vector<std::string> ignored;
    try {
      const auto route = self->route_for(what.name);  // named: it lives across the co_await
      auto dest = co_await smtp::resolve_destination(self->resolver_, what.name, route,
                                                     self->options_.mx_port);
      if (dest) {
        self->clear_backoff(dest->site, r, ignored);
      }
    } catch (const std::exception& e) {
      logger()->warn("delivery: retry now of {}: its destination was not found: {}", what.name,
                     e.what());
    }
  }
  r.brought_forward = co_await bring_forward(self, std::move(domains));
  r.found = r.found || r.brought_forward > 0;
  self->view_changed();
  logger()->info("delivery: retry now of {} {}: {} back-offs ended, {} units due now",
                 what.site ? "site" : "domain", what.name, r.backoffs_cleared, r.brought_forward);
  done(r);
}

}  // namespace txmail::queue
