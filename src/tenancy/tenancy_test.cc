#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "store/sqlite_config_store.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/password_hash.h"

namespace txmail::tenancy {
namespace {

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
  ASSERT_TRUE(bootstrap_account(*store_, "acme", "pw1", {*net::Cidr::parse("127.0.0.2/32")}, ""));
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
  ASSERT_TRUE(bootstrap_account(*store_, "acme", "pw2", {}, ""));
  EXPECT_FALSE(auth.cached("acme", "pw1"));
  EXPECT_FALSE(auth.verify("acme", "pw1"));
  EXPECT_TRUE(auth.verify("acme", "pw2"));
  EXPECT_FALSE((*dir)->account_for_ip("127.0.0.2"));
}

TEST_F(TenancyTest, BootstrapKeepsHashWhenPasswordUnchanged) {
  ASSERT_TRUE(bootstrap_account(*store_, "acme", "pw", {}, ""));
  auto first = store_->get(account_key("acme"));
  ASSERT_TRUE(bootstrap_account(*store_, "acme", "pw", {}, "dedicated"));
  auto second = store_->get(account_key("acme"));
  auto a = account_from_json((*first)->value);
  auto b = account_from_json((*second)->value);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->password_hash, b->password_hash);
  EXPECT_EQ(b->pool, "dedicated");
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
