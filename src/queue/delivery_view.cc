// The operator's view of the queues (queue_view.h), taken on the engine's thread in slices: the
// schedule (a million units on a busy node) is walked kViewSlice units a turn, with the engine's
// other work in between, so a view delays deliveries by one slice at a time, not by the whole
// walk. While mail moves between slices a unit may be counted twice or not at all: the view is
// a near one, not an exact snapshot. Callers within a walk, or within a second after it, share
// its view.
#include <algorithm>
#include <unordered_map>

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
  if (d.starts_with('[')) {
    return recipient_domain(address);  // an address literal, as it is
  }
  for (char& c : d) {
    if ((static_cast<unsigned char>(c) & 0x80) != 0) {
      return recipient_domain(address);
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return d;
}

}  // namespace

struct DeliveryEngine::ViewWalk {
  std::shared_ptr<QueueView> v = std::make_shared<QueueView>();
  std::unordered_map<std::string, QueueView::Waiting> by_domain;
  std::size_t next = 0;       // the next index of scheduled_ to count
  std::uint64_t actions = 0;  // view_actions_ when it began
  std::vector<std::function<void(std::shared_ptr<const QueueView>)>> callers;
};

void DeliveryEngine::view(std::function<void(std::shared_ptr<const QueueView>)> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    const std::int64_t now = now_ms();
    if (view_cache_ && now - view_cache_->taken_ms < 1000 && now >= view_cache_->taken_ms) {
      done(view_cache_);
      return;
    }
    if (view_walk_) {
      view_walk_->callers.push_back(std::move(done));
      return;
    }
    auto walk = std::make_shared<ViewWalk>();
    walk->v->taken_ms = now;
    walk->actions = view_actions_;
    walk->callers.push_back(std::move(done));
    for (const auto* map : {&paused_sites_, &paused_domains_}) {
      for (const auto& [name, p] : *map) {
        for (const auto& unit : p.held) {
          view_count(*walk, unit, std::nullopt);
        }
      }
    }
    view_walk_ = walk;
    view_step(walk);
  });
}

void DeliveryEngine::view_step(const std::shared_ptr<ViewWalk>& walk) {
  const std::size_t end = std::min(scheduled_.size(), walk->next + kViewSlice);
  for (; walk->next < end; ++walk->next) {
    view_count(*walk, scheduled_[walk->next].unit, scheduled_[walk->next].due_ms);
  }
  if (walk->next < scheduled_.size()) {
    asio::post(io_, [this, walk] { view_step(walk); });
    return;
  }
  view_finish(*walk);
}

// One unit: due at `due_ms`, or held by a pause (nullopt).
void DeliveryEngine::view_count(ViewWalk& walk, const Unit& unit,
                                std::optional<std::int64_t> due_ms) const {
  // Grouped by domain: at most this many domains are told apart (a million queued domains
  // would otherwise cost a map of a million); the rest count in the totals only.
  constexpr std::size_t kMaxDomains = 10'000;
  const auto job = jobs_.find(unit.job);
  if (job == jobs_.end() || unit.recipients.empty()) {
    return;
  }
  QueueView& v = *walk.v;
  v.waiting_recipients += unit.recipients.size();
  if (v.oldest_ms == 0 || job->second.received_ms < v.oldest_ms) {
    v.oldest_ms = job->second.received_ms;
  }
  std::string domain = quick_domain(job->second.recipients[unit.recipients.front()].view());
  auto it = walk.by_domain.find(domain);
  if (it == walk.by_domain.end()) {
    if (walk.by_domain.size() >= kMaxDomains) {
      v.waiting_truncated = true;
      return;
    }
    it = walk.by_domain.emplace(domain, QueueView::Waiting{}).first;
    it->second.domain = std::move(domain);
    it->second.oldest_ms = job->second.received_ms;
  }
  QueueView::Waiting& w = it->second;
  w.recipients += unit.recipients.size();
  if (!due_ms) {
    w.held += unit.recipients.size();
  } else if (w.next_attempt_ms == 0 || std::max(*due_ms, v.taken_ms) < w.next_attempt_ms) {
    w.next_attempt_ms = std::max(*due_ms, v.taken_ms);  // due already: now
  }
  w.oldest_ms = std::min(w.oldest_ms, job->second.received_ms);
}

void DeliveryEngine::view_finish(ViewWalk& walk) {
  QueueView& v = *walk.v;
  const std::int64_t now = now_ms();
  v.jobs = jobs_.size();
  v.connections = connections_;
  v.waiting.reserve(walk.by_domain.size());
  v.waiting_by_domain.reserve(walk.by_domain.size());
  for (auto& [name, w] : walk.by_domain) {
    v.waiting_by_domain.emplace(name, w.recipients);
    const auto pause = paused_domains_.find(name);
    w.paused = pause != paused_domains_.end() && pause->second.in_force(now);
    v.waiting.push_back(std::move(w));
  }
  std::ranges::sort(v.waiting, [](const auto& a, const auto& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients : a.domain < b.domain;
  });
  if (v.waiting.size() > QueueView::kMaxWaiting) {
    v.waiting.resize(QueueView::kMaxWaiting);
    v.waiting_truncated = true;
  }
  view_destinations(v);
  for (const auto& d : v.destinations) {
    if (d.oldest_ms != 0 && (v.oldest_ms == 0 || d.oldest_ms < v.oldest_ms)) {
      v.oldest_ms = d.oldest_ms;
    }
  }
  for (const auto* map : {&paused_sites_, &paused_domains_}) {
    for (const auto& [name, p] : *map) {
      if (p.in_force(now)) {
        v.pauses.push_back(QueueView::Pause{map == &paused_sites_, name, p.since_ms, p.until_ms});
      }
    }
  }
  v.waiting_by_domain.clear();
  // An action during the walk made what it counted stale: its callers get it, nobody else.
  if (walk.actions == view_actions_) {
    view_cache_ = walk.v;
  }
  view_walk_.reset();
  for (auto& caller : walk.callers) {
    caller(walk.v);
  }
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
    d.paused = pause != paused_sites_.end() && pause->second.in_force(now);
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

}  // namespace txmail::queue
