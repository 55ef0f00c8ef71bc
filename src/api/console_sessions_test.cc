#include "api/console_sessions.h"

#include <gtest/gtest.h>

namespace txmail::api {
namespace {

TEST(ConsoleSessions, FindsASessionByItsIdOnlyAndForgetsItAtLogout) {
  ConsoleSessions sessions;
  auto [id, made] = sessions.create("Bearer txm_x", "shop");
  EXPECT_EQ(id.size(), 64U);
  EXPECT_EQ(made.csrf.size(), 64U);
  EXPECT_NE(made.csrf, id);
  auto found = sessions.find(id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->authorization, "Bearer txm_x");
  EXPECT_EQ(found->account, "shop");
  EXPECT_EQ(found->csrf, made.csrf);
  std::string other = id;
  other[0] = other[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(sessions.find(other));
  EXPECT_FALSE(sessions.find(""));
  EXPECT_FALSE(sessions.find(made.csrf)) << "the CSRF token is no session id";
  sessions.erase(id);
  EXPECT_FALSE(sessions.find(id));
}

TEST(ConsoleSessions, EndAfterIdleTimeAndAfterTheirMaximumAge) {
  ConsoleSessions sessions;
  auto idle = sessions.create("Bearer a", "a").first;
  auto busy = sessions.create("Bearer b", "b").first;
  Clock::advance(ConsoleSessions::kIdle - std::chrono::minutes(1));
  EXPECT_TRUE(sessions.find(busy));
  Clock::advance(std::chrono::minutes(2));
  EXPECT_FALSE(sessions.find(idle)) << "idle past kIdle";
  EXPECT_TRUE(sessions.find(busy)) << "used a minute ago";
  // Used every 20 minutes, it still ends kMaxAge after the login.
  for (auto t = std::chrono::minutes(0); t < ConsoleSessions::kMaxAge;
       t += std::chrono::minutes(20)) {
    Clock::advance(std::chrono::minutes(20));
    (void)sessions.find(busy);
  }
  EXPECT_FALSE(sessions.find(busy));
  EXPECT_EQ(sessions.size(), 0U);
}

TEST(ConsoleSessions, OneKeysLoginsPushOutOnlyThatKeysOldest) {
  ConsoleSessions sessions;
  auto other = sessions.create("Bearer other", "o").first;
  Clock::advance(std::chrono::milliseconds(1));
  auto first = sessions.create("Bearer k", "k").first;
  Clock::advance(std::chrono::milliseconds(1));
  auto second = sessions.create("Bearer k", "k").first;
  for (std::size_t i = 2; i < ConsoleSessions::kMaxPerCredential + 5; ++i) {
    Clock::advance(std::chrono::milliseconds(1));
    (void)sessions.create("Bearer k", "k");
  }
  EXPECT_EQ(sessions.size(), ConsoleSessions::kMaxPerCredential + 1);
  EXPECT_FALSE(sessions.find(first));
  EXPECT_FALSE(sessions.find(second));
  EXPECT_TRUE(sessions.find(other)) << "another key's session stays";
}

TEST(ConsoleSessions, TheOldestGoWhenTooManyAreOpen) {
  ConsoleSessions sessions;
  auto first = sessions.create("Bearer 0", "x").first;
  Clock::advance(std::chrono::milliseconds(1));
  auto second = sessions.create("Bearer 1", "x").first;
  for (std::size_t i = 2; i < ConsoleSessions::kMaxSessions + 1; ++i) {
    (void)sessions.create("Bearer " + std::to_string(i), "x");
  }
  EXPECT_EQ(sessions.size(), ConsoleSessions::kMaxSessions);
  EXPECT_FALSE(sessions.find(first));
  EXPECT_TRUE(sessions.find(second));
}

TEST(ConsoleSessions, ReadsOneCookieOfAHeader) {
  EXPECT_EQ(cookie_value("txmail_session=abc", kSessionCookie), "abc");
  EXPECT_EQ(cookie_value("a=1; txmail_session=abc; b=2", kSessionCookie), "abc");
  EXPECT_EQ(cookie_value("a=1;txmail_session=\"abc\"", kSessionCookie), "abc");
  EXPECT_FALSE(cookie_value("a=1; xtxmail_session=abc", kSessionCookie));
  EXPECT_FALSE(cookie_value("txmail_session", kSessionCookie));
  EXPECT_FALSE(cookie_value("", kSessionCookie));
}

}  // namespace
}  // namespace txmail::api
