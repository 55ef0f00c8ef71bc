// The region-wide count of the hourly limit (issue site-3, item 5), without a transport: what
// other nodes publish is fed in by hand, as the cluster module's watcher does.
#include "tenancy/region_rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace txmail::tenancy {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kHourly = 960;  // 100 a window
constexpr std::int64_t kT0 = 10 * RequestLimiter::kWindowMs + 1000;
constexpr std::int64_t kWindow = 10 * RequestLimiter::kWindowMs;

TEST(RegionRateLimiter, OtherNodesCountsShareTheWindow) {
  RegionRateLimiter limiter("node-a");
  ASSERT_EQ(RequestLimiter::per_window(kHourly), 100);
  limiter.observe("node-b", "acme", kWindow, 60);
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(limiter.acquire("acme", kHourly, kT0), 0) << i;
  }
  EXPECT_EQ(limiter.acquire("acme", kHourly, kT0), 299);  // 40 here + 60 at b
  EXPECT_EQ(limiter.acquire("other", kHourly, kT0), 0);   // accounts do not share a window
  // b publishes a newer (higher) count: the latest replaces the one before, never adds to it.
  limiter.observe("node-b", "acme", kWindow, 70);
  EXPECT_EQ(limiter.view("acme", kT0).others, 70);
  limiter.observe("node-c", "acme", kWindow, 5);
  EXPECT_EQ(limiter.view("acme", kT0).others, 75);
  EXPECT_EQ(limiter.view("acme", kT0).mine, 40);
  EXPECT_EQ(limiter.acquire("acme", 0, kT0), 0);  // no limit
}

TEST(RegionRateLimiter, WindowsMoveOn) {
  RegionRateLimiter limiter("node-a");
  limiter.observe("node-b", "acme", kWindow, 100);
  EXPECT_GT(limiter.acquire("acme", kHourly, kT0), 0);
  // A count of the window before is of no weight in this one.
  limiter.observe("node-b", "acme", kWindow - RequestLimiter::kWindowMs, 100);
  EXPECT_EQ(limiter.view("acme", kT0).others, 100);
  // The next window starts empty, and a late count of the old one is ignored.
  const std::int64_t next = kT0 + RequestLimiter::kWindowMs;
  EXPECT_EQ(limiter.acquire("acme", kHourly, next), 0);
  limiter.observe("node-b", "acme", kWindow, 100);
  EXPECT_EQ(limiter.view("acme", next).others, 0);
  EXPECT_EQ(limiter.view("acme", next).mine, 1);
  // A node whose clock is ahead opens the next window: its count is taken in that window.
  RegionRateLimiter behind("node-a");
  behind.observe("node-b", "acme", kWindow + RequestLimiter::kWindowMs, 30);
  EXPECT_EQ(behind.acquire("acme", kHourly, kT0), 0);
  EXPECT_EQ(behind.view("acme", kT0).others, 30);
}

TEST(RegionRateLimiter, OwnCountResumesAfterRestart) {
  RegionRateLimiter limiter("node-a");
  limiter.observe("node-a", "acme", kWindow, 97);  // published before the restart
  EXPECT_EQ(limiter.view("acme", kT0).others, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(limiter.acquire("acme", kHourly, kT0), 0) << i;
  }
  EXPECT_GT(limiter.acquire("acme", kHourly, kT0), 0);
  // Its own echo of an older count never lowers it.
  limiter.observe("node-a", "acme", kWindow, 98);
  EXPECT_EQ(limiter.view("acme", kT0).mine, 100);
}

TEST(RegionRateLimiter, ChangesAreCoalescedAndGivenBack) {
  RegionRateLimiter limiter("node-a");
  EXPECT_TRUE(limiter.changes(0ms).empty());
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(limiter.acquire("acme", kHourly, kT0), 0);
  }
  ASSERT_EQ(limiter.acquire("shop", kHourly, kT0), 0);
  auto taken = limiter.changes(0ms);
  ASSERT_EQ(taken.size(), 2U);
  EXPECT_EQ(taken[0].account, "acme");
  EXPECT_EQ(taken[0].count, 5);
  EXPECT_EQ(taken[0].window_ms, kWindow);
  EXPECT_EQ(taken[1].account, "shop");
  EXPECT_TRUE(limiter.changes(0ms).empty());  // taken once
  // A publish that failed gives them back; the count taken again is the latest.
  limiter.retake(taken);
  ASSERT_EQ(limiter.acquire("acme", kHourly, kT0), 0);
  auto again = limiter.changes(0ms);
  ASSERT_EQ(again.size(), 2U);
  EXPECT_EQ(again[0].count, 6);
  // Unlimited requests are not counted, so there is nothing to publish.
  ASSERT_EQ(limiter.acquire("acme", 0, kT0), 0);
  EXPECT_TRUE(limiter.changes(0ms).empty());
}

TEST(RegionRateLimiter, ChangesWaitsForACountOrAWake) {
  RegionRateLimiter limiter("node-a");
  std::thread counter([&] { EXPECT_EQ(limiter.acquire("acme", kHourly, kT0), 0); });
  const auto taken = limiter.changes(60s);  // returns once the other thread counted
  counter.join();
  ASSERT_EQ(taken.size(), 1U);
  std::thread waker([&] { limiter.wake(); });
  EXPECT_TRUE(limiter.changes(60s).empty());
  waker.join();
}

}  // namespace
}  // namespace txmail::tenancy
