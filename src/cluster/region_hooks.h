// RegionHooks: the region's queue of push notification batches (issue site-3, item 2). Internal
// to the cluster module; ClusterNode opens it, the webhook dispatcher uses it as its HookQueue.
//
// TXMAIL_HOOKS (R3, work-queue retention, `cluster init` makes it) holds the batches every node
// made of its own events, under txmail.hooks.<node>, each with Nats-Msg-Id "<node>/<first
// event seq>-<last event seq>": a batch made again after a crash is stored once. One durable
// pull consumer, `txmail_hooks`, is shared by every node of the region: each batch goes to one
// node at a time; a node fetches only while it has room. While a node holds a batch (waiting
// for its lane or in flight) it tells the region every kHooksKeepAlive that it still works on
// it; one it stops holding without settling it (the node died) goes to another node
// kHooksAckWait later. A failed try publishes the batch again with the tries made so far
// (Txmail-Tries) and when it is due (Txmail-Due, wall ms), then acknowledges the one tried: a
// node that fetches it early hands it back (NakWithDelay) until then. Hand-backs (a node with
// no room for its endpoint, a paused endpoint, a node that died) count no try. After the last
// try the batch is published to TXMAIL_HOOKS_DEAD (R3, under txmail.hooksdead.<account>, with
// the last error and the tries) and acknowledged.
// Dead letters are listed from that stream by any node; a replay publishes them to
// TXMAIL_HOOKS again (tried afresh) and deletes them from it.
// Each node's reader position (the last of its events made into batches) is kept in the bucket
// txmail_readers under "hooks/<node>", written after each round's batches are stored. The node
// that takes a dead node's spool over reads that node's events from the copies in its own log
// from there on, queues their batches under the dead node's ids (so a batch it had stored
// already is stored once) and moves the position with a compare-and-set, until the node is
// alive again; a restarted node goes on from the region's position when it is past its own.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/nats_connection.h"
#include "events/webhooks.h"

namespace txmail::cluster {

inline constexpr const char* kHooksStream = "TXMAIL_HOOKS";
inline constexpr const char* kHooksSubjects = "txmail.hooks.>";
inline constexpr const char* kHooksConsumer = "txmail_hooks";
inline constexpr const char* kHooksDeadStream = "TXMAIL_HOOKS_DEAD";
inline constexpr const char* kHooksDeadSubjects = "txmail.hooksdead.>";
// A batch a node holds without a word for this long goes to another node.
inline constexpr std::chrono::seconds kHooksAckWait{30};
inline constexpr std::chrono::seconds kHooksKeepAlive{10};
// Batches handed out and not settled yet, region-wide (those waiting for a delayed retry
// count): the consumer hands out nothing more beyond it.
inline constexpr std::int64_t kHooksMaxAckPending = 200000;

class RegionHooks final : public events::HookQueue {
 public:
  // `url_of` unseals a dead letter's endpoint (sealed, job id) into its URL ("" : unreadable).
  using UrlOf = std::function<std::string(const std::string& sealed, const std::string& job)>;
  // An error when the streams or the consumer `cluster init` makes are missing.
  // `taken` names the dead nodes whose spool this node holds now.
  using Taken = std::function<std::vector<std::string>()>;
  static Result<std::unique_ptr<RegionHooks>> open(NatsConnection& nats, std::string node,
                                                   UrlOf url_of, Taken taken);
  ~RegionHooks() override;
  RegionHooks(const RegionHooks&) = delete;
  RegionHooks& operator=(const RegionHooks&) = delete;
  RegionHooks(RegionHooks&&) = delete;
  RegionHooks& operator=(RegionHooks&&) = delete;

  Result<void> put(const std::string& origin,
                   std::vector<std::pair<std::string, events::QueuedBatch>> batches) override;
  Result<std::optional<ReaderPosition>> reader_position(const std::string& node) override;
  Result<void> reader_moved(std::int64_t seq) override;
  Result<bool> reader_moved(const std::string& node, std::int64_t seq,
                            std::uint64_t revision) override;

  std::vector<std::string> readers_taken() override { return taken_(); }

  void start(std::function<std::size_t(std::vector<events::QueuedBatch>)> take,
             std::function<std::size_t()> room) override;
  void stop() override;
  void settle(const std::string& handle, Outcome outcome, std::chrono::milliseconds delay,
              const std::string& error, int attempts) override;
  Result<std::vector<events::DeadLetter>> dead_letters(const std::string& account,
                                                       std::size_t limit) override;
  Result<std::size_t> replay(const std::string& account) override;

  std::uint64_t dead_count() const override { return dead_count_.load(); }

 private:
  RegionHooks(NatsConnection& nats, std::string node, UrlOf url_of, Taken taken)
      : nats_(nats), node_(std::move(node)), url_of_(std::move(url_of)), taken_(std::move(taken)) {}

  struct Settling {  // a failed try, published again (or to the dead letters) by the keeper
    natsMsg* msg = nullptr;
    bool dead = false;
    std::chrono::milliseconds delay{0};
    std::string error;
    int attempts = 0;
  };

  void fetch_loop();
  bool fetch_once();  // false: nothing came (or it failed)
  void keeper_loop();
  void bury(Settling& d);
  void requeue(Settling& d);
  void count_dead();
  bool pause(std::chrono::milliseconds d);  // false when stopping
  std::size_t settling();
  // Every dead letter of the account ("" : all), up to `limit`, oldest first, with its seq.
  Result<std::vector<std::pair<events::DeadLetter, NatsMsg*>>> read_dead(
      const std::string& account, std::size_t limit, std::vector<std::unique_ptr<NatsMsg>>& keep);

  NatsConnection& nats_;
  const std::string node_;
  UrlOf url_of_;
  Taken taken_;
  kvStore* readers_ = nullptr;  // the bucket txmail_readers
  jsCtx* js_ = nullptr;         // the publisher's own (its error handler)
  natsSubscription* sub_ = nullptr;

  std::function<std::size_t(std::vector<events::QueuedBatch>)> take_;
  std::function<std::size_t()> room_;

  std::mutex mutex_;  // held_, settling_, stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::unordered_map<std::string, natsMsg*> held_;  // by handle (the reply subject)
  std::deque<Settling> settling_;
  std::thread fetcher_;
  std::thread keeper_;
  std::atomic<std::uint64_t> dead_count_{0};
};

}  // namespace txmail::cluster
