#include <gtest/gtest.h>

#include "queue/gcra.h"
#include "queue/retry_policy.h"

namespace txmail::queue {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

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
