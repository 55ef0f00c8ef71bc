// The per-account hourly limit counted across a region's nodes (issue site-3, item 5): the
// same 5-minute windows as RateLimiter, where a request is admitted while this node's count
// plus the latest counts the other nodes published for the window stay under the limit.
//
// The counting is here, with no transport: the cluster module publishes this node's changed
// counts (changes()) and feeds in what the other nodes published (observe()), in the
// background; acquire() only reads memory, so SMTP may ask on its I/O threads.
//
// Approximate by design: a request admitted at one node is seen by the others once its count
// is published and delivered, so the region may admit more than the limit by what the other
// nodes admit within that delay (docs/cluster.md gives the bound). While the counts cannot be
// exchanged, each node limits alone, as in embedded mode: the region admits at most the number
// of nodes times the limit. Nothing is ever refused below the limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tenancy/rate_limiter.h"

namespace txmail::tenancy {

class RegionRateLimiter final : public RequestLimiter {
 public:
  explicit RegionRateLimiter(std::string node) : node_(std::move(node)) {}

  std::int64_t acquire(const std::string& account, std::int64_t hourly,
                       std::int64_t now_ms) override;

  // An account's count of requests a node admitted in the window starting at window_ms, as
  // that node published it. This node's own (read back after a restart) resumes its count.
  void observe(const std::string& node, const std::string& account, std::int64_t window_ms,
               std::int64_t count);

  struct Change {
    std::string account;
    std::int64_t window_ms = 0;
    std::int64_t count = 0;  // this node's, in the window
  };

  // This node's counts changed since they were last taken; waits up to `wait` for one (or for
  // wake()). Taken means handed to the publisher: a failed publish gives them back (retake).
  std::vector<Change> changes(std::chrono::milliseconds wait);
  void retake(const std::vector<Change>& failed);
  void wake();  // changes() returns at once (shutdown)

  // What this node counts for the account's current window: its own and the others' sum.
  struct View {
    std::int64_t mine = 0;
    std::int64_t others = 0;
  };

  View view(const std::string& account, std::int64_t now_ms);

 private:
  struct Counts {
    std::int64_t window_ms = 0;
    std::int64_t mine = 0;
    std::map<std::string, std::int64_t> others;  // node -> its published count
    std::int64_t others_sum = 0;
  };

  // The account's counts, moved to the window of now_ms when it is newer.
  Counts& current(const std::string& account, std::int64_t window_ms);

  const std::string node_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool woken_ = false;
  std::unordered_map<std::string, Counts> counts_;
  std::set<std::string> dirty_;  // accounts whose count changed since taken
};

}  // namespace txmail::tenancy
