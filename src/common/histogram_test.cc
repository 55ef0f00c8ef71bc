#include "common/histogram.h"

#include <gtest/gtest.h>

namespace txmail {
namespace {

TEST(Histogram, PercentilesWithinBucketError) {
  Histogram h;
  for (int i = 1; i <= 1000; ++i) {
    h.record(std::chrono::microseconds(i));
  }
  EXPECT_EQ(h.count(), 1000U);
  const double p50 = h.percentile_us(0.5);
  const double p99 = h.percentile_us(0.99);
  EXPECT_GT(p50, 500 * 0.9);
  EXPECT_LT(p50, 500 * 1.15);
  EXPECT_GT(p99, 990 * 0.9);
  EXPECT_LT(p99, 990 * 1.15);
}

TEST(Histogram, EmptyAndTiny) {
  Histogram h;
  EXPECT_EQ(h.percentile_us(0.5), 0);
  h.record(std::chrono::nanoseconds(3));
  EXPECT_LE(h.percentile_us(1.0), 0.005);
}

}  // namespace
}  // namespace txmail
