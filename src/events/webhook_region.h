// The dispatcher's cluster-mode side (issue site-3, item 2). Used by webhooks.cc only.
//
// The reader still makes the batches of this node's own events, but they go to the region's
// queue (HookQueue) instead of the outbox, and the position moves once the region stored
// them. The queue hands batches to whichever node has room; each is a row of that node's outbox
// carrying its handle, sent by its lane as any other, and settled with the queue once the try
// is written: done, tried again after the schedule's wait by any node, or a region-wide dead
// letter after the last try. A node that dies holding batches never settles them: the region
// hands them to another node once their acknowledgement wait runs out. A paused lane hands its
// waiting batches back, due when the pause ends, so they hold no room of this node meanwhile;
// a lane holding its share of the room already gets no more (they go back at once). Only
// tries count toward the dead letter, never hand-backs.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "events/webhook_batches.h"

namespace txmail::events::webhook {

class RegionFeed {
 public:
  // `hold`: batches this node holds at most (in its outbox, waiting or in flight); one lane
  // holds a quarter of them at most, so that a slow endpoint with a large backlog leaves room
  // for the others (what the queue hands over beyond it goes back, to come again later).
  RegionFeed(HookQueue& queue, Db& state, std::mutex& state_mutex,
             const WebhookDispatcher::Deps& deps, const WebhookOptions& options)
      : queue_(queue),
        state_(state),
        state_mutex_(state_mutex),
        deps_(deps),
        options_(options),
        hold_(std::max<std::size_t>(256, 2 * options.max_in_flight)),
        lane_cap_(std::max<std::size_t>(16, hold_ / 4)) {}

  ~RegionFeed() { stop(); }

  RegionFeed(const RegionFeed&) = delete;
  RegionFeed& operator=(const RegionFeed&) = delete;
  RegionFeed(RegionFeed&&) = delete;
  RegionFeed& operator=(RegionFeed&&) = delete;

  // Goes on from the region's position of this node's reader when it is past the one in
  // webhooks.db (another node made the batches of its events while it was away). Then runs
  // `round` (the reader: true when it found events) on a thread of its own until stop(),
  // `poll` apart when idle, a second apart while `failing` says so, and with it the readers of
  // dead nodes this node took over; and takes the queue's batches into the outbox, telling
  // `joined` (from the queue's thread) which lanes have new ones.
  void start(std::function<bool()> round, std::function<bool()> failing,
             std::chrono::milliseconds poll, std::function<void(std::set<std::string>)> joined);
  void stop();

  // The round's batches to the region, then the reader's position: returns once all are
  // stored. `origin`: the node whose events they are ("" : this node's).
  Result<void> put(const ReadRound& round, const std::string& origin = "");

  // A try of a queued batch was written: done, again after `retry_in`, or dead.
  void settle(const std::string& handle, bool done, bool last, std::chrono::milliseconds retry_in,
              const std::string& error, int attempts);

  // The lane (paused for `delay` more) gives its waiting queued batches back.
  void hand_back(const std::string& key, const std::set<std::int64_t>& busy,
                 std::chrono::milliseconds delay);

 private:
  std::size_t take(const std::vector<QueuedBatch>& batches);  // how many it kept
  void resume_from_region();
  // One round of each dead node's reader this node took over; true when one found events.
  bool taken_rounds();
  bool taken_round(const std::string& node);

  HookQueue& queue_;
  Db& state_;
  std::mutex& state_mutex_;
  const WebhookDispatcher::Deps& deps_;
  const WebhookOptions& options_;
  const std::size_t hold_;
  const std::size_t lane_cap_;
  std::atomic<std::size_t> held_{0};
  std::function<void(std::set<std::string>)> joined_;
  std::set<std::string> unpositioned_;   // taken-over nodes with no position (said once)
  std::set<std::string> taken_failing_;  // taken-over nodes whose position cannot be read
  bool position_failing_ = false;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread reader_;
};

}  // namespace txmail::events::webhook
