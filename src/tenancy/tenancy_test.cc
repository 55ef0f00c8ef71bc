#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "store/sqlite_config_store.h"
#include "tenancy/account_directory.h"
#include "tenancy/api_keys.h"
#include "tenancy/authenticator.h"
#include "tenancy/password_hash.h"
#include "tenancy/rate_limiter.h"
#include "tenancy/recipient_policy.h"
#include "tenancy/suppression.h"

namespace txmail::tenancy {
namespace {

Account declared(const std::string& name, std::vector<net::Cidr> ips, const std::string& pool) {
  Account a;
  a.name = name;
  a.allow_ips = std::move(ips);
  a.pool = pool;
  return a;
}

TEST(PasswordHash, VerifiesAndRefuses) {
  const std::string h = hash_password("s3cret", 1000);
  EXPECT_TRUE(h.starts_with("$pbkdf2-sha256$i=1000$"));
  EXPECT_TRUE(verify_password("s3cret", h));
  EXPECT_FALSE(verify_password("s3cret ", h));
  EXPECT_FALSE(verify_password("", h));
  EXPECT_NE(hash_password("s3cret", 1000), h);  // salted
  for (const char* bad : {"", "$pbkdf2-sha256$i=0$AA==$AA==", "$pbkdf2-sha256$i=10$$", "plain"}) {
    EXPECT_FALSE(verify_password("s3cret", bad)) << bad;
  }
}

TEST(Base64, RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string back;
    ASSERT_TRUE(base64_decode(base64_encode(s), back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(base64_decode("abc", out));
  EXPECT_FALSE(base64_decode("ab!c", out));
  // Hostile padding (issue harden-1): "====" once made the decoded length wrap around.
  for (const char* bad : {"====", "a===", "ab=c", "=abc", "AAAA====", "AA=A", "A=A="}) {
    EXPECT_FALSE(base64_decode(bad, out)) << bad;
  }
  ASSERT_TRUE(base64_decode("YQ==", out));
  EXPECT_EQ(out, "a");
  ASSERT_TRUE(base64_decode("YWI=", out));
  EXPECT_EQ(out, "ab");
}

class TenancyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path()
            / ("txmail-tenancy-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    std::filesystem::remove(path_);
    store_ = std::move(*store::SqliteConfigStore::open(path_.string()));
  }

  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }

  std::filesystem::path path_;
  std::unique_ptr<store::SqliteConfigStore> store_;
};

TEST_F(TenancyTest, BootstrapDirectoryAndAuthentication) {
  ASSERT_TRUE(
      bootstrap_account(*store_, declared("acme", {*net::Cidr::parse("127.0.0.2/32")}, ""), "pw1"));
  auto dir = AccountDirectory::load(*store_);
  ASSERT_TRUE(dir);
  ASSERT_TRUE((*dir)->find("acme"));
  EXPECT_EQ((*dir)->account_for_ip("127.0.0.2"), "acme");
  EXPECT_FALSE((*dir)->account_for_ip("127.0.0.1"));

  Authenticator auth(**dir, std::chrono::minutes(5));
  EXPECT_FALSE(auth.cached("acme", "pw1"));
  auto ok = auth.verify("acme", "pw1");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, "acme");
  EXPECT_EQ(auth.cached("acme", "pw1"), "acme");
  EXPECT_FALSE(auth.cached("acme", "pw2"));
  EXPECT_FALSE(auth.verify("acme", "pw2"));
  EXPECT_FALSE(auth.verify("nobody", "pw1"));

  // A password change through the store reaches the directory and empties the cache.
  ASSERT_TRUE(bootstrap_account(*store_, declared("acme", {}, ""), "pw2"));
  EXPECT_FALSE(auth.cached("acme", "pw1"));
  EXPECT_FALSE(auth.verify("acme", "pw1"));
  EXPECT_TRUE(auth.verify("acme", "pw2"));
  EXPECT_FALSE((*dir)->account_for_ip("127.0.0.2"));
}

TEST_F(TenancyTest, BootstrapKeepsHashWhenPasswordUnchanged) {
  ASSERT_TRUE(bootstrap_account(*store_, declared("acme", {}, ""), "pw"));
  auto first = store_->get(account_key("acme"));
  ASSERT_TRUE(bootstrap_account(*store_, declared("acme", {}, "dedicated"), "pw"));
  auto second = store_->get(account_key("acme"));
  auto a = account_from_json((*first)->value);
  auto b = account_from_json((*second)->value);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->password_hash, b->password_hash);
  EXPECT_EQ(b->pool, "dedicated");
}

TEST_F(TenancyTest, ApiKeysAreStoredHashedAndRevocable) {
  auto k = create_api_key(*store_, "acme", "ci");
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->secret.starts_with("txm_"));
  EXPECT_EQ(k->secret.size(), 47U);
  auto all = store_->list("apikey/");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ((*all)[0].value.find(k->secret.substr(4)), std::string::npos);  // never the key
  auto found = find_api_key(*store_, k->secret);
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->account, "acme");
  EXPECT_EQ((*found)->id, k->key.id);
  std::string wrong = k->secret;
  wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
  auto missing = find_api_key(*store_, wrong);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  EXPECT_FALSE(revoke_api_key(*store_, "other", k->key.id));  // not another account's key
  ASSERT_TRUE(revoke_api_key(*store_, "acme", k->key.id));
  auto gone = find_api_key(*store_, k->secret);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(TenancyTest, DisabledAccountCannotAuthenticate) {
  Account a;
  a.name = "off";
  a.password_hash = hash_password("pw", 1000);
  a.disabled = true;
  ASSERT_TRUE(store_->put(account_key("off"), to_json(a), store::Expect::any()));
  auto dir = AccountDirectory::load(*store_);
  Authenticator auth(**dir, std::chrono::minutes(5));
  auto r = auth.verify("off", "pw");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermission);
}

}  // namespace
}  // namespace txmail::tenancy

namespace txmail::tenancy {
namespace {

TEST(RateLimiter, WindowOfFiveMinutesWithTolerance) {
  EXPECT_EQ(RateLimiter::per_window(5000), 521);
  EXPECT_EQ(RateLimiter::per_window(12), 2);  // 1.25 rounded up
  RateLimiter limiter;
  const std::int64_t t0 = 10 * RateLimiter::kWindowMs + 1000;
  for (int i = 0; i < 521; ++i) {
    ASSERT_EQ(limiter.acquire("acme", 5000, t0), 0) << i;
  }
  const std::int64_t wait = limiter.acquire("acme", 5000, t0);
  EXPECT_EQ(wait, 299);                              // the rest of the window, in whole seconds
  EXPECT_EQ(limiter.acquire("other", 5000, t0), 0);  // accounts do not share a window
  EXPECT_EQ(limiter.acquire("acme", 5000, t0 + RateLimiter::kWindowMs), 0);  // a new window
  EXPECT_EQ(limiter.acquire("acme", 0, t0), 0);                              // no limit
}

}  // namespace
}  // namespace txmail::tenancy

namespace txmail::tenancy {
namespace {

// The class comes from the reply table (smtp/client/trouble.cc), the duration from here.
TEST(Suppression, BounceClassesAndTtls) {
  SuppressionSettings st;
  auto entry = [&st](smtp::Stage stage, int code, const char* enhanced) {
    const smtp::Reply reply(code, enhanced, "text");
    return suppression_for_bounce(smtp::classify_reply(stage, reply).suppression, "text", st);
  };
  auto user = entry(smtp::Stage::kRcpt, 550, "5.1.1");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->type, SuppressionType::kPreviouslyBounced);
  EXPECT_EQ(user->ttl_ms, 45LL * 24 * 3600 * 1000);
  EXPECT_EQ(user->reason, "text");
  auto full = entry(smtp::Stage::kDataEnd, 552, "5.2.2");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->type, SuppressionType::kTemporary);
  EXPECT_EQ(full->ttl_ms, 24LL * 3600 * 1000);
  auto bare552 = entry(smtp::Stage::kDataEnd, 552, "");
  ASSERT_TRUE(bare552);
  EXPECT_EQ(bare552->type, SuppressionType::kTemporary);
  auto policy = entry(smtp::Stage::kRcpt, 550, "5.7.1");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->ttl_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_FALSE(entry(smtp::Stage::kRcpt, 450, "4.2.1"));
  // A refused sender (5.1.8 is the sender's address) or EHLO says nothing of the recipient.
  EXPECT_FALSE(entry(smtp::Stage::kMail, 553, "5.1.8"));
  EXPECT_FALSE(entry(smtp::Stage::kEhlo, 550, ""));
  EXPECT_FALSE(suppression_for_bounce(smtp::SuppressionClass::kNone, "connection refused", st));
}

TEST_F(TenancyTest, SuppressionListScopesExpiryAndPaging) {
  auto list = SuppressionList::load(*store_, SuppressionSettings{});
  ASSERT_TRUE(list);
  const std::int64_t now = 1'000'000'000'000;
  Suppression s;
  s.address = "Ann@Example.org";
  s.scope = "acme";
  s.ttl_ms = 1000;
  s.created_ms = now;
  ASSERT_TRUE((*list)->add(s));
  EXPECT_TRUE((*list)->find("acme", "ann@example.org", now + 10));
  EXPECT_TRUE((*list)->find("acme", "ANN@EXAMPLE.ORG", now + 10));
  EXPECT_FALSE((*list)->find("other", "ann@example.org", now + 10));   // per account
  EXPECT_FALSE((*list)->find("acme", "ann@example.org", now + 1000));  // expired
  auto found = (*list)->find("acme", "ann@example.org", now + 500);
  ASSERT_TRUE(found);
  ASSERT_TRUE((*list)->renew(*found, now + 500));
  EXPECT_TRUE((*list)->find("acme", "ann@example.org", now + 1400));  // renewed
  for (const char* a : {"b@x.test", "c@x.test", "d@x.test"}) {
    Suppression e = s;
    e.address = a;
    ASSERT_TRUE((*list)->add(e));
  }
  auto page1 = (*list)->list("acme", "", 2, now);
  ASSERT_EQ(page1.size(), 2U);
  auto page2 = (*list)->list("acme", page1.back().address, 10, now);
  ASSERT_EQ(page2.size(), 2U);
  EXPECT_EQ(page2.back().address, "d@x.test");
  EXPECT_FALSE((*list)->remove("other", "b@x.test"));
  ASSERT_TRUE((*list)->remove("acme", "b@x.test"));
  EXPECT_FALSE((*list)->find("acme", "b@x.test", now));
  auto purged = (*list)->purge(now + 5000);
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 3U);
  EXPECT_EQ((*list)->size(), 0U);
}

// One policy for SMTP and REST (issue quality-1, defect 6): role addresses are forbidden, a
// suppressed address is dropped with its entry described, and the entry's renewal goes where
// the caller posts it (never inline on an I/O thread).
TEST_F(TenancyTest, RecipientPolicyDropsAndRenews) {
  SuppressionSettings settings;
  settings.forbidden_local_parts = {"abuse", "postmaster"};
  auto list = SuppressionList::load(*store_, settings);
  ASSERT_TRUE(list);
  const std::int64_t now = 1'000'000'000'000;
  Suppression s;
  s.address = "gone@example.org";
  s.scope = "acme";
  s.ttl_ms = 1000;
  s.created_ms = now;
  s.reason = "550 5.1.1 no such user";
  ASSERT_TRUE((*list)->add(s));
  std::vector<std::function<void()>> posted;
  RecipientPolicy policy(list->get(),
                         [&posted](std::function<void()> f) { posted.push_back(std::move(f)); });

  EXPECT_FALSE(policy.check("acme", "ok@example.org", now));
  auto forbidden = policy.check("acme", "Abuse@example.org", now);
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->reason, DropReason::kForbidden);
  EXPECT_EQ(drop_sub_type(forbidden->reason), "FORBIDDEN_RECIPIENT");
  EXPECT_TRUE(posted.empty());

  auto bounced = policy.check("acme", "GONE@example.org", now + 500);
  ASSERT_TRUE(bounced);
  EXPECT_EQ(bounced->reason, DropReason::kPreviouslyBounced);
  EXPECT_EQ(drop_sub_type(bounced->reason), "PREVIOUSLY_BOUNCED");
  EXPECT_NE(bounced->detail.find("no such user"), std::string::npos) << bounced->detail;
  EXPECT_FALSE(policy.check("other", "gone@example.org", now + 500));  // another account's list
  // The renewal ran only when the caller ran what it was given; then the entry lives on.
  ASSERT_EQ(posted.size(), 1U);
  EXPECT_FALSE((*list)->find("acme", "gone@example.org", now + 1200));
  posted.front()();
  EXPECT_TRUE((*list)->find("acme", "gone@example.org", now + 1200));

  RecipientPolicy none(nullptr, nullptr);
  EXPECT_FALSE(none.check("acme", "abuse@example.org", now));
}

}  // namespace
}  // namespace txmail::tenancy
