#include "common/duration.h"

#include <gtest/gtest.h>

namespace txmail {
namespace {

TEST(Duration, ParsesEveryUnit) {
  struct Case {
    const char* in;
    long long ms;
  };

  const Case cases[] = {{"250ms", 250},  {"30s", 30000},   {"5m", 300000},
                        {"2h", 7200000}, {"1d", 86400000}, {"0s", 0}};
  for (const auto& c : cases) {
    auto d = parse_duration(c.in);
    ASSERT_TRUE(d) << c.in;
    EXPECT_EQ(d->count(), c.ms) << c.in;
  }
}

TEST(Duration, RefusesBadInput) {
  for (const char* in : {"", "s", "10", "10 s", "-5s", "1w", "1.5s"}) {
    EXPECT_FALSE(parse_duration(in)) << in;
  }
}

TEST(Size, ParsesUnits) {
  EXPECT_EQ(*parse_size("512"), 512U);
  EXPECT_EQ(*parse_size("10KB"), 10240U);
  EXPECT_EQ(*parse_size("20MiB"), 20U << 20);
  EXPECT_FALSE(parse_size("20TB"));
  EXPECT_FALSE(parse_size("MB"));
}

}  // namespace
}  // namespace txmail
