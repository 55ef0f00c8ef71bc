#include "tenancy/region_rate_limiter.h"

namespace txmail::tenancy {

namespace {

// Accounts counted at most; beyond it, the counts of past windows are forgotten first.
constexpr std::size_t kMaxAccounts = 100'000;

}  // namespace

RegionRateLimiter::Counts& RegionRateLimiter::current(const std::string& account,
                                                      std::int64_t window_ms) {
  if (counts_.size() > kMaxAccounts) {
    std::erase_if(counts_, [&](const auto& kv) {
      return kv.second.window_ms < window_ms && !dirty_.contains(kv.first);
    });
  }
  Counts& c = counts_[account];
  if (c.window_ms < window_ms) {
    c = Counts{};
    c.window_ms = window_ms;
  }
  return c;
}

std::int64_t RegionRateLimiter::acquire(const std::string& account, std::int64_t hourly,
                                        std::int64_t now_ms) {
  if (hourly <= 0) {
    return 0;
  }
  std::lock_guard lock(mutex_);
  Counts& c = current(account, window_start(now_ms));
  if (c.mine + c.others_sum >= per_window(hourly)) {
    return seconds_left(now_ms);
  }
  ++c.mine;
  dirty_.insert(account);
  changed_.notify_one();
  return 0;
}

void RegionRateLimiter::observe(const std::string& node, const std::string& account,
                                std::int64_t window_ms, std::int64_t count) {
  std::lock_guard lock(mutex_);
  Counts& c = current(account, window_ms);
  if (c.window_ms != window_ms) {
    return;  // a window this node has left
  }
  if (node == node_) {
    // This node's own count, published before a restart: counting goes on from it.
    c.mine = std::max(c.mine, count);
    return;
  }
  std::int64_t& slot = c.others[node];
  c.others_sum += count - slot;
  slot = count;
}

std::vector<RegionRateLimiter::Change> RegionRateLimiter::changes(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [this] { return !dirty_.empty() || woken_; });
  std::vector<Change> out;
  out.reserve(dirty_.size());
  for (const auto& account : dirty_) {
    const auto it = counts_.find(account);
    if (it != counts_.end()) {
      out.push_back(Change{account, it->second.window_ms, it->second.mine});
    }
  }
  dirty_.clear();
  return out;
}

void RegionRateLimiter::retake(const std::vector<Change>& failed) {
  std::lock_guard lock(mutex_);
  for (const auto& f : failed) {
    const auto it = counts_.find(f.account);
    if (it != counts_.end() && it->second.window_ms == f.window_ms) {
      dirty_.insert(f.account);
    }
  }
}

void RegionRateLimiter::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  changed_.notify_all();
}

RegionRateLimiter::View RegionRateLimiter::view(const std::string& account, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  const Counts& c = current(account, window_start(now_ms));
  return View{c.mine, c.others_sum};
}

}  // namespace txmail::tenancy
