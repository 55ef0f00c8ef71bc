// The bounded store of unreadable inbound messages (app/kept_messages.h): bounded in count and
// bytes, the oldest dropped first, ids that are never paths, and what a restart finds.
#include "app/kept_messages.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace txmail::app {
namespace {

class KeptMessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path()
            / ("txmail-kept-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

std::vector<std::string> ids(const std::string& dir) {
  std::vector<std::string> out;
  const auto kept = list_kept(dir);
  for (const auto& m : *kept) {
    out.push_back(m.id);
  }
  return out;
}

TEST_F(KeptMessagesTest, KeepsAndReadsBack) {
  auto kept = KeptMessages::open(dir_, {});
  ASSERT_TRUE(kept) << kept.error().detail;
  auto id = (*kept)->keep("Subject: what is this\r\n\r\nbody\r\n");
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_EQ((*kept)->count(), 1U);
  EXPECT_EQ(*read_kept(dir_, *id), "Subject: what is this\r\n\r\nbody\r\n");
  EXPECT_EQ(ids(dir_), std::vector<std::string>{*id});
}

TEST_F(KeptMessagesTest, DropsTheOldestPastTheCount) {
  auto kept = std::move(*KeptMessages::open(dir_, {3, 1 << 20}));
  std::vector<std::string> made;
  made.reserve(5);
  for (int i = 0; i < 5; ++i) {
    made.push_back(*kept->keep("message " + std::to_string(i)));
  }
  EXPECT_EQ(kept->count(), 3U);
  EXPECT_EQ(kept->dropped(), 2U);
  EXPECT_EQ(ids(dir_), std::vector<std::string>(made.begin() + 2, made.end()));
  EXPECT_EQ(*read_kept(dir_, made.back()), "message 4");
}

TEST_F(KeptMessagesTest, DropsTheOldestPastTheBytesAndCutsAGiant) {
  auto kept = std::move(*KeptMessages::open(dir_, {100, 100}));
  const std::string first = *kept->keep(std::string(40, 'a'));
  const std::string second = *kept->keep(std::string(40, 'b'));
  const std::string third = *kept->keep(std::string(40, 'c'));  // 120 > 100: the first goes
  EXPECT_EQ(ids(dir_), (std::vector<std::string>{second, third}));
  EXPECT_EQ(kept->bytes(), 80U);
  const std::string giant = *kept->keep(std::string(1000, 'g'));
  EXPECT_EQ(ids(dir_), std::vector<std::string>{giant});
  EXPECT_EQ(read_kept(dir_, giant)->size(), 100U);
  EXPECT_EQ(kept->bytes(), 100U);
}

TEST_F(KeptMessagesTest, ARestartCountsWhatIsThereUnderNewBounds) {
  {
    auto kept = std::move(*KeptMessages::open(dir_, {10, 1 << 20}));
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(kept->keep("m" + std::to_string(i)));
    }
  }
  auto kept = std::move(*KeptMessages::open(dir_, {2, 1 << 20}));
  EXPECT_EQ(kept->count(), 2U);
  EXPECT_EQ(kept->bytes(), 4U);
  EXPECT_EQ(list_kept(dir_)->size(), 2U);
}

TEST_F(KeptMessagesTest, AnIdIsNeverAPath) {
  auto kept = std::move(*KeptMessages::open(dir_, {}));
  ASSERT_TRUE(kept->keep("x"));
  for (const char* id : {"../x", "/etc/passwd", "", "1234567890123-1/../../x", "abc"}) {
    auto r = read_kept(dir_, id);
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << id;
  }
  EXPECT_TRUE(list_kept(dir_ + "/absent")->empty());
}

}  // namespace
}  // namespace txmail::app
