#include "store/capture_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace txmail::store {
namespace {

class CaptureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-capture-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<CaptureStore> open(CaptureLimits limits) {
    auto s = CaptureStore::open((dir_ / "sandbox.db").string(), limits);
    EXPECT_TRUE(s) << s.error().detail;
    return s ? std::move(*s) : nullptr;
  }

  static CapturedMessage message(const std::string& account, int n, std::size_t bytes = 10) {
    CapturedMessage m;
    m.mail_id = "job" + std::to_string(n) + "#00000000#00000000";
    m.job_id = "job" + std::to_string(n);
    m.account = account;
    m.sender = "from@example.org";
    m.recipient = "to" + std::to_string(n) + "@example.org";
    m.captured_ms = 1000 + n;
    m.message = std::string(bytes, 'x');
    return m;
  }

  static std::vector<std::string> ids(const std::vector<CapturedMessage>& rows) {
    std::vector<std::string> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      out.push_back(r.job_id);
    }
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(CaptureStoreTest, KeepsEveryByteAndTheEnvelope) {
  auto store = open({});
  CapturedMessage m = message("a", 1);
  m.message = std::string("DKIM-Signature: v=1\r\n\r\nbody\0with nul\r\n", 38);
  ASSERT_TRUE(store->put({m}));
  auto got = store->get(m.mail_id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->message, m.message);
  EXPECT_EQ((*got)->size, 38);
  EXPECT_EQ((*got)->account, "a");
  EXPECT_EQ((*got)->sender, "from@example.org");
  EXPECT_EQ((*got)->recipient, "to1@example.org");
  EXPECT_EQ((*got)->captured_ms, 1001);
  auto missing = store->get("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_F(CaptureStoreTest, DropsTheOldestBeyondMaxMessages) {
  auto store = open({.max_messages = 3, .max_bytes = 1 << 20});
  for (int n = 1; n <= 5; ++n) {
    ASSERT_TRUE(store->put({message("a", n)}));
  }
  auto rows = store->list({});
  ASSERT_TRUE(rows);
  EXPECT_EQ(ids(*rows), (std::vector<std::string>{"job5", "job4", "job3"}));
  auto t = store->totals();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->messages, 3U);
  EXPECT_EQ(t->bytes, 30);
  auto gone = store->get(message("a", 1).mail_id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(CaptureStoreTest, DropsTheOldestBeyondMaxBytesButKeepsTheNewest) {
  auto store = open({.max_messages = 100, .max_bytes = 25});
  ASSERT_TRUE(store->put({message("a", 1), message("a", 2)}));  // 20 bytes
  auto dropped = store->put({message("a", 3)});                 // 30: the oldest goes
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, 1U);
  auto rows = store->list({});
  ASSERT_TRUE(rows);
  EXPECT_EQ(ids(*rows), (std::vector<std::string>{"job3", "job2"}));
  // One message over the limit alone stays (the newest always does); the rest go.
  ASSERT_TRUE(store->put({message("a", 4, 100)}));
  rows = store->list({});
  ASSERT_TRUE(rows);
  EXPECT_EQ(ids(*rows), (std::vector<std::string>{"job4"}));
}

TEST_F(CaptureStoreTest, ListsByAccountNewestFirstWithACursor) {
  auto store = open({});
  for (int n = 1; n <= 6; ++n) {
    ASSERT_TRUE(store->put({message(n % 2 == 0 ? "even" : "odd", n)}));
  }
  auto page = store->list({.account = "even", .before_seq = 0, .limit = 2});
  ASSERT_TRUE(page);
  EXPECT_EQ(ids(*page), (std::vector<std::string>{"job6", "job4"}));
  EXPECT_TRUE(page->front().message.empty());  // listings carry no bytes
  EXPECT_EQ(page->front().size, 10);
  auto next = store->list({.account = "even", .before_seq = page->back().seq, .limit = 2});
  ASSERT_TRUE(next);
  EXPECT_EQ(ids(*next), (std::vector<std::string>{"job2"}));
  auto all = store->list({.account = "", .before_seq = 0, .limit = 100});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 6U);
}

TEST_F(CaptureStoreTest, CapturedAgainReplacesTheRow) {
  auto store = open({});
  ASSERT_TRUE(store->put({message("a", 1)}));
  CapturedMessage again = message("a", 1, 4);
  ASSERT_TRUE(store->put({again}));
  auto rows = store->list({});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1U);
  EXPECT_EQ(rows->front().size, 4);
}

TEST_F(CaptureStoreTest, KeptAcrossReopen) {
  {
    auto store = open({});
    ASSERT_TRUE(store->put({message("a", 1)}));
  }
  auto store = open({});
  auto rows = store->list({});
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 1U);
}

TEST_F(CaptureStoreTest, AnUnwritableFileIsAnError) {
  auto s = CaptureStore::open((dir_ / "missing" / "sandbox.db").string(), {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().detail.find("sandbox capture store"), std::string::npos);
}

}  // namespace
}  // namespace txmail::store
