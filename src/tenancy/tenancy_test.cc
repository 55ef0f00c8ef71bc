#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "store/sqlite_config_store.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/api_keys.h"
#include "tenancy/password_hash.h"
#include "tenancy/rate_limiter.h"

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
  ASSERT_TRUE(bootstrap_account(*store_, declared("acme", {*net::Cidr::parse("127.0.0.2/32")}, ""), "pw1"));
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
  EXPECT_EQ(wait, 299);  // the rest of the window, in whole seconds
  EXPECT_EQ(limiter.acquire("other", 5000, t0), 0);  // accounts do not share a window
  EXPECT_EQ(limiter.acquire("acme", 5000, t0 + RateLimiter::kWindowMs), 0);  // a new window
  EXPECT_EQ(limiter.acquire("acme", 0, t0), 0);  // no limit
}

}  // namespace
}  // namespace txmail::tenancy
