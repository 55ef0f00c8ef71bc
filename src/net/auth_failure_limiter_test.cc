#include "net/auth_failure_limiter.h"

#include <gtest/gtest.h>

namespace txmail::net {
namespace {

TEST(AuthFailureLimiter, WindowedPerIp) {
  AuthFailureLimits o;
  o.per_ip = 3;
  o.per_user = 3;
  o.window = std::chrono::minutes(5);
  AuthFailureLimiter l(o);
  const auto t0 = AuthFailureLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.blocked("192.0.2.1", t0));
    l.record_failure("192.0.2.1", "u" + std::to_string(i), t0);
  }
  EXPECT_TRUE(l.blocked("192.0.2.1", t0));
  EXPECT_TRUE(l.blocked("192.0.2.1", "anyone", t0)) << "the address's ceiling covers every user";
  EXPECT_FALSE(l.blocked("192.0.2.2", t0));
  EXPECT_FALSE(l.blocked("192.0.2.1", t0 + std::chrono::minutes(6)));  // the window passed
}

// Issue harden-1: ten wrong passwords for one account behind an address (a proxy, a NAT) used to
// lock out every account there. Now they block that user from that address only, until the
// address's own, higher ceiling.
TEST(AuthFailureLimiter, OneUsersFailuresDoNotLockOutOthers) {
  AuthFailureLimits o;
  o.per_user = 10;
  o.per_ip = 100;
  AuthFailureLimiter l(o);
  const auto t0 = AuthFailureLimiter::Clock::now();
  for (int i = 0; i < 10; ++i) {
    l.record_failure("192.0.2.1", "victim", t0);
  }
  EXPECT_TRUE(l.blocked("192.0.2.1", "victim", t0));
  EXPECT_FALSE(l.blocked("192.0.2.1", "colleague", t0));
  EXPECT_FALSE(l.blocked("192.0.2.1", t0));
  EXPECT_FALSE(l.blocked("192.0.2.9", "victim", t0)) << "another address";
  for (int i = 0; i < 90; ++i) {
    l.record_failure("192.0.2.1", "spray" + std::to_string(i), t0);
  }
  EXPECT_TRUE(l.blocked("192.0.2.1", t0)) << "a password spray still meets the address ceiling";
  EXPECT_TRUE(l.blocked("192.0.2.1", "colleague", t0));
}

}  // namespace
}  // namespace txmail::net
