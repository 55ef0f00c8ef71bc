#include "events/webhook_region.h"

#include "common/log.h"

namespace txmail::events::webhook {

void RegionFeed::start(std::function<bool()> round, std::function<bool()> failing,
                       std::chrono::milliseconds poll,
                       std::function<void(std::set<std::string>)> joined) {
  joined_ = std::move(joined);
  resume_from_region();
  queue_.start([this](const std::vector<QueuedBatch>& batches) { return take(batches); },
               [this] {
                 const std::size_t held = held_.load();
                 return held < hold_ ? hold_ - held : 0;
               });
  reader_ = std::thread([this, round = std::move(round), failing = std::move(failing), poll] {
    std::unique_lock lock(stop_mutex_);
    while (!stopping_) {
      lock.unlock();
      bool more = false;
      try {
        more = round();
        more = taken_rounds() || more;
      } catch (const std::exception& e) {
        logger()->error("webhooks: reading the event log failed: {}", e.what());
      }
      const auto wait = more        ? std::chrono::milliseconds(0)
                        : failing() ? std::chrono::milliseconds(1000)
                                    : poll;
      lock.lock();
      stop_cv_.wait_for(lock, wait, [this] { return stopping_; });
    }
  });
}

void RegionFeed::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  stop_cv_.notify_all();
  queue_.stop();
  if (reader_.joinable()) {
    reader_.join();
  }
}

void RegionFeed::resume_from_region() {
  auto at = queue_.reader_position("");
  if (!at) {
    logger()->warn(
        "webhooks: the region's position of this node's reader cannot be read ({}); "
        "going on from webhooks.db's",
        at.error().detail);
    return;
  }
  if (!*at) {
    // The first start in this region: the position is stored now, so that a node that takes
    // this one over before its first round knows where its events begin.
    Result<std::int64_t> local;
    {
      std::lock_guard lock(state_mutex_);
      Statement q(state_, "SELECT seq FROM position WHERE id = 1");
      auto row = q.step();
      local = !row ? Result<std::int64_t>(tl::unexpected(row.error())) : *row ? q.int64(0) : 0;
    }
    auto stored = local.and_then([this](std::int64_t seq) { return queue_.reader_moved(seq); });
    if (!stored) {
      logger()->warn("webhooks: cannot store this node's reader position in the region: {}",
                     stored.error().detail);
    }
    return;
  }
  // A position past this log's last event is another log's (a node of that name whose data
  // was lost): never a reason to skip events.
  auto last = deps_.event_log.last_seq();
  if (!last || *last < (*at)->seq) {
    logger()->warn(
        "webhooks: the region's position of this node's reader ({}) is past this "
        "node's event log; going on from webhooks.db's",
        (*at)->seq);
    return;
  }
  // Never past what the region surely holds: the node that took over made batches of the
  // events it had copied, and an event whose publish failed while later ones were stored
  // reached it only if this node sent it again; from there on they are made again (some of
  // them twice).
  auto published = deps_.event_log.position(kPublishedPosition);
  const std::int64_t seq = std::min((*at)->seq, published ? *published : 0);
  std::lock_guard lock(state_mutex_);
  Statement up(state_, "UPDATE position SET seq = ? WHERE id = 1 AND seq < ?");
  if (auto done = up.bind(1, seq).bind(2, seq).run(); !done) {
    logger()->warn("webhooks: cannot go on from the region's position: {}", done.error().detail);
  } else if (state_.changes() > 0) {
    logger()->info(
        "webhooks: another node made the notifications of this node's events up to "
        "{} while it was away; going on from there",
        seq);
  }
}

bool RegionFeed::taken_rounds() {
  bool more = false;
  for (const auto& node : queue_.readers_taken()) {
    more = taken_round(node) || more;
  }
  return more;
}

bool RegionFeed::taken_round(const std::string& node) {
  auto at = queue_.reader_position(node);
  if (!at || !*at) {
    if (!at && taken_failing_.insert(node).second) {
      logger()->warn("webhooks: node {}'s reader position cannot be read: {} (trying again)", node,
                     at.error().detail);
    } else if (unpositioned_.insert(node).second) {
      logger()->error(
          "webhooks: node {} is dead and this node took its spool over, but the "
          "region holds no position of its reader: its notifications wait for it",
          node);
    }
    return false;
  }
  taken_failing_.erase(node);
  auto round =
      read_round(deps_.event_log, (*at)->seq, options_.chunk, options_.batch_max, deps_, node);
  if (!round || round->last_seq == 0) {
    if (!round) {
      logger()->warn("webhooks: cannot read node {}'s events: {}", node, round.error().detail);
    }
    return false;
  }
  if (auto stored = put(*round, node); !stored) {
    logger()->warn("webhooks: cannot queue node {}'s notifications: {}", node,
                   stored.error().detail);
    return false;
  }
  auto moved = queue_.reader_moved(node, round->last_seq, (*at)->revision);
  if (!moved || !*moved) {
    // It came back, or another node moved it: its batches were stored, at least once.
    return false;
  }
  std::size_t notifications = 0;
  for (const auto& b : round->batches) {
    notifications += b.notifications;
  }
  logger()->info(
      "webhooks: node {} is dead: this node queued {} notifications of its events, "
      "up to its event {}",
      node, notifications, round->last_seq);
  return true;
}

Result<void> RegionFeed::put(const ReadRound& round, const std::string& origin) {
  std::vector<std::pair<std::string, QueuedBatch>> batches;
  batches.reserve(round.batches.size());
  for (const auto& b : round.batches) {
    QueuedBatch q;
    q.account = b.account;
    q.job_id = b.job_id;
    q.endpoint = deps_.seal(to_json(b.endpoint), "webhook:" + b.job_id);
    q.body = b.body;
    q.notifications = b.notifications;
    // The same events make the same batch again after a crash: stored once.
    batches.emplace_back(std::to_string(b.first_seq) + "-" + std::to_string(b.last_seq),
                         std::move(q));
  }
  if (!batches.empty()) {
    if (auto stored = queue_.put(origin, std::move(batches)); !stored) {
      return stored;
    }
  }
  if (!origin.empty()) {
    return {};  // its position moves with a compare-and-set (taken_round)
  }
  // Where the node that takes this one over goes on from. Not stored: it would make some
  // batches again (stored once when they come out the same), never skip one.
  if (auto moved = queue_.reader_moved(round.last_seq); !moved) {
    if (!position_failing_) {
      logger()->warn("webhooks: the region does not store this node's reader position ({})",
                     moved.error().detail);
    }
    position_failing_ = true;
  } else if (position_failing_) {
    logger()->info("webhooks: the region stores this node's reader position again");
    position_failing_ = false;
  }
  return {};
}

std::size_t RegionFeed::take(const std::vector<QueuedBatch>& batches) {
  Result<StoredBatches> stored;
  {
    std::lock_guard lock(state_mutex_);
    stored = store_queued(state_, deps_, batches, lane_cap_);
  }
  if (!stored) {
    // Not this node's to send now: another (or this one, later) takes them.
    logger()->error("webhooks: cannot store the region's batches ({}); handed back",
                    stored.error().detail);
    for (const auto& b : batches) {
      queue_.settle(b.handle, HookQueue::Outcome::kRetry, std::chrono::seconds(1), "", 0);
    }
    return 0;
  }
  for (const auto& handle : stored->unreadable) {
    // Another node may read it: handed back, not dropped (no try is counted).
    logger()->error(
        "webhooks: a batch of the region's queue has an endpoint this node cannot "
        "unseal (is the cluster master key the same on every node?); handed back");
    queue_.settle(handle, HookQueue::Outcome::kRetry, std::chrono::minutes(1), "", 0);
  }
  for (const QueuedBatch* b : stored->over) {
    // Its lane holds enough: back to the region, to come again later (each time later, up to
    // a minute) to this node or another.
    const auto wait = std::min<std::chrono::milliseconds>(
        std::chrono::seconds(1) * (std::int64_t{1} << std::clamp(b->handed, 0, 6)),
        std::chrono::minutes(1));
    queue_.settle(b->handle, HookQueue::Outcome::kRetry, wait, "", 0);
  }
  const std::size_t kept = batches.size() - stored->unreadable.size() - stored->over.size();
  held_.fetch_add(kept);
  if (!stored->keys.empty()) {
    joined_(std::move(stored->keys));
  }
  return kept;
}

void RegionFeed::settle(const std::string& handle, bool done, bool last,
                        std::chrono::milliseconds retry_in, const std::string& error,
                        int attempts) {
  held_.fetch_sub(1);
  const auto outcome = done   ? HookQueue::Outcome::kDone
                       : last ? HookQueue::Outcome::kDead
                              : HookQueue::Outcome::kRetry;
  queue_.settle(handle, outcome, retry_in, error, attempts);
}

void RegionFeed::hand_back(const std::string& key, const std::set<std::int64_t>& busy,
                           std::chrono::milliseconds delay) {
  Result<std::vector<std::string>> handles;
  {
    std::lock_guard lock(state_mutex_);
    handles = take_queued(state_, key, busy);
  }
  if (!handles) {
    logger()->error("webhooks: cannot hand a paused endpoint's batches back: {}",
                    handles.error().detail);
    return;
  }
  held_.fetch_sub(handles->size());
  for (const auto& handle : *handles) {
    queue_.settle(handle, HookQueue::Outcome::kRetry, delay, "", 0);
  }
}

}  // namespace txmail::events::webhook
