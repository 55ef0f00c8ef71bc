#include "store/sqlite_config_store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace txmail::store {
namespace {

class ConfigStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path()
            / ("txmail-config-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    std::filesystem::remove(path_);
    auto s = SqliteConfigStore::open(path_.string());
    ASSERT_TRUE(s) << s.error().detail;
    store_ = std::move(*s);
  }

  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }

  std::filesystem::path path_;
  std::unique_ptr<SqliteConfigStore> store_;
};

TEST_F(ConfigStoreTest, RevisionsAndCompareAndSet) {
  auto r1 = store_->put("account/a", "v1", Expect::absent());
  ASSERT_TRUE(r1);
  auto again = store_->put("account/a", "v1", Expect::absent());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  auto r2 = store_->put("account/a", "v2", Expect::at(*r1));
  ASSERT_TRUE(r2);
  EXPECT_GT(*r2, *r1);
  EXPECT_FALSE(store_->put("account/a", "v3", Expect::at(*r1)));  // stale revision
  auto got = store_->get("account/a");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->value, "v2");
  EXPECT_EQ((*got)->revision, *r2);
  EXPECT_FALSE(store_->erase("account/a", Expect::at(*r1)));
  EXPECT_TRUE(store_->erase("account/a", Expect::at(*r2)));
  auto gone = store_->get("account/a");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(ConfigStoreTest, ListByPrefix) {
  ASSERT_TRUE(store_->put("account/b", "2", Expect::any()));
  ASSERT_TRUE(store_->put("account/a", "1", Expect::any()));
  ASSERT_TRUE(store_->put("accounts", "x", Expect::any()));
  ASSERT_TRUE(store_->put("domain/a", "3", Expect::any()));
  auto list = store_->list("account/");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ((*list)[0].key, "account/a");
  EXPECT_EQ((*list)[1].key, "account/b");
}

TEST_F(ConfigStoreTest, WatchSeesChangesInOrder) {
  std::vector<ConfigChange> seen;
  const auto id = store_->watch("account/", [&](const ConfigChange& c) { seen.push_back(c); });
  ASSERT_TRUE(store_->put("account/a", "1", Expect::any()));
  ASSERT_TRUE(store_->put("domain/x", "1", Expect::any()));
  ASSERT_TRUE(store_->erase("account/a", Expect::any()));
  store_->unwatch(id);
  ASSERT_TRUE(store_->put("account/b", "1", Expect::any()));
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].key, "account/a");
  EXPECT_EQ(seen[0].value, "1");
  EXPECT_FALSE(seen[1].value.has_value());
  EXPECT_LT(seen[0].revision, seen[1].revision);
}

TEST_F(ConfigStoreTest, SurvivesReopen) {
  ASSERT_TRUE(store_->put("k", "v", Expect::any()));
  store_.reset();
  auto s = SqliteConfigStore::open(path_.string());
  ASSERT_TRUE(s);
  auto got = (*s)->get("k");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->value, "v");
}

TEST_F(ConfigStoreTest, RefreshSeesAnotherConnectionsWrites) {
  // Two connections to one file stand for the server and an administration command.
  ASSERT_TRUE(store_->put("domain/a", "1", Expect::any()));
  ASSERT_TRUE(store_->put("domain/gone", "x", Expect::any()));
  auto other = SqliteConfigStore::open(path_.string());
  ASSERT_TRUE(other);
  std::vector<std::string> heard;
  store_->watch("domain/", [&](const ConfigChange& c) {
    heard.push_back(c.key + "=" + c.value.value_or("<erased>"));
  });
  auto n = store_->refresh();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0U);  // its own writes are not news
  ASSERT_TRUE((*other)->put("domain/b", "2", Expect::any()));
  ASSERT_TRUE((*other)->put("domain/a", "3", Expect::any()));
  ASSERT_TRUE((*other)->erase("domain/gone", Expect::any()));
  ASSERT_TRUE(store_->put("domain/c", "4", Expect::any()));  // its own write in between
  n = store_->refresh();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3U);
  EXPECT_EQ(heard, (std::vector<std::string>{"domain/c=4", "domain/b=2", "domain/a=3",
                                             "domain/gone=<erased>"}));
  EXPECT_EQ(*store_->refresh(), 0U);
}

}  // namespace
}  // namespace txmail::store
