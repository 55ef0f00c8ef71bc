#include <gtest/gtest.h>

#include "queue/gcra.h"
#include "queue/inline_list.h"
#include "queue/retry_policy.h"

namespace txmail::queue {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

TEST(InlineList, GrowsPastItsInlineElementAndKeepsOrder) {
  static_assert(sizeof(InlineList<std::uint32_t>) == 16);
  InlineList<std::unique_ptr<int>> list;  // move-only elements too
  EXPECT_TRUE(list.empty());
  for (int i = 0; i < 37; ++i) {
    list.push_back(std::make_unique<int>(i));
    ASSERT_EQ(list.size(), static_cast<std::uint32_t>(i + 1));
    for (int j = 0; j <= i; ++j) {
      ASSERT_EQ(*list[static_cast<std::size_t>(j)], j);
    }
  }
  int expected = 0;
  for (const auto& p : list) {
    EXPECT_EQ(*p, expected++);
  }
  InlineList<int> sized(5);
  for (std::size_t i = 0; i < 5; ++i) {
    sized[i] = static_cast<int>(i) * 10;
  }
  sized.push_back(50);
  EXPECT_EQ(sized.size(), 6U);
  EXPECT_EQ(sized[5], 50);
  EXPECT_EQ(sized[4], 40);
}

TEST(RetryPolicy, ScheduleThenTailWithJitter) {
  RetryPolicy p;
  EXPECT_EQ(p.delay(1, 0.5), minutes(1));
  EXPECT_EQ(p.delay(6, 0.5), minutes(40));
  EXPECT_EQ(p.delay(7, 0.5), minutes(60));
  EXPECT_EQ(p.delay(50, 0.5), minutes(60));
  EXPECT_EQ(p.delay(1, 0.0), milliseconds(48'000));  // -20%
  EXPECT_EQ(p.delay(1, 1.0), milliseconds(72'000));  // +20%
  EXPECT_FALSE(p.expired(0, 72LL * 3600 * 1000 - 1));
  EXPECT_TRUE(p.expired(0, 72LL * 3600 * 1000));
}

TEST(Gcra, HoldsTheRate) {
  Gcra g(10.0, 1.0);  // 10 per second, no burst
  auto now = Gcra::Clock::time_point{} + std::chrono::hours(1);
  int sent = 0;
  // Simulate one second of a sender that goes as soon as it is allowed.
  const auto end = now + std::chrono::seconds(1);
  while (now < end) {
    const auto wait = g.reserve(now);
    now += wait;
    if (now < end) {
      ++sent;
    }
  }
  EXPECT_GE(sent, 10);
  EXPECT_LE(sent, 11);
}

TEST(Gcra, BurstThenSteady) {
  Gcra g(1.0, 3.0);
  const auto now = Gcra::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(g.reserve(now)), milliseconds(1000));
  EXPECT_FALSE(Gcra().limited());
}

}  // namespace
}  // namespace txmail::queue
