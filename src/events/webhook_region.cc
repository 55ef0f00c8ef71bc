#include "events/webhook_region.h"

#include "common/log.h"

namespace txmail::events::webhook {

void RegionFeed::start(std::function<bool()> round, std::function<bool()> failing,
                       std::chrono::milliseconds poll,
                       std::function<void(std::set<std::string>)> joined) {
  joined_ = std::move(joined);
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

Result<void> RegionFeed::put(const ReadRound& round) {
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
  if (batches.empty()) {
    return {};
  }
  return queue_.put(std::move(batches));
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
