#include "smtp/server/limits.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

TEST(ConnectionLimiter, TotalAndPerIp) {
  ServerOptions o;
  o.max_connections = 3;
  o.max_connections_per_ip = 2;
  ConnectionLimiter l(o);
  EXPECT_TRUE(l.acquire("10.0.0.1"));
  EXPECT_TRUE(l.acquire("10.0.0.1"));
  EXPECT_FALSE(l.acquire("10.0.0.1"));  // per IP
  EXPECT_TRUE(l.acquire("10.0.0.2"));
  EXPECT_FALSE(l.acquire("10.0.0.3"));  // total
  l.release("10.0.0.1");
  EXPECT_TRUE(l.acquire("10.0.0.3"));
  EXPECT_EQ(l.total(), 3U);
}

TEST(AuthFailureLimiter, WindowedPerIp) {
  ServerOptions o;
  o.max_auth_failures_per_ip = 3;
  o.auth_failure_window = std::chrono::minutes(5);
  AuthFailureLimiter l(o);
  const auto t0 = AuthFailureLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.blocked("192.0.2.1", t0));
    l.record_failure("192.0.2.1", t0);
  }
  EXPECT_TRUE(l.blocked("192.0.2.1", t0));
  EXPECT_FALSE(l.blocked("192.0.2.2", t0));
  EXPECT_FALSE(l.blocked("192.0.2.1", t0 + std::chrono::minutes(6)));  // the window passed
}

}  // namespace
}  // namespace txmail::smtp
