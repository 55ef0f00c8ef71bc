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

}  // namespace
}  // namespace txmail::smtp
