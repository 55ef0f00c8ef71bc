#include "common/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace txmail {
namespace {

TEST(Ids, JobIdIsUuidV7) {
  const std::string id = new_job_id();
  EXPECT_TRUE(is_job_id(id)) << id;
  EXPECT_EQ(id[14], '7');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
}

TEST(Ids, JobIdsAreUniqueAndTimeOrdered) {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_job_id();
    EXPECT_TRUE(seen.insert(id).second);
    // The first 48 bits are the millisecond timestamp: never decreasing.
    EXPECT_GE(id.substr(0, 13), prev.empty() ? "" : prev.substr(0, 13));
    prev = id;
  }
}

TEST(Ids, MailIdFormat) {
  EXPECT_EQ(mail_id("0190a5f2-0000-7000-8000-000000000000", 0, 26),
            "0190a5f2-0000-7000-8000-000000000000#00000000#0000001a");
}

TEST(Ids, RejectsNonIds) {
  EXPECT_FALSE(is_job_id(""));
  EXPECT_FALSE(is_job_id("0190a5f2-0000-7000-8000-00000000000G"));
  EXPECT_FALSE(is_job_id("0190a5f2x0000-7000-8000-000000000000"));
}

TEST(Ids, JobKeyRoundTrips) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = new_job_id();
    const auto key = job_key(id);
    ASSERT_TRUE(key.has_value()) << id;
    EXPECT_EQ(job_id_of(*key), id);
  }
  EXPECT_FALSE(job_key("not-a-job-id").has_value());
  EXPECT_FALSE(job_key("0190e6a4-7b1c-7d2e-8f3a-ABCDEF012345").has_value());  // upper case
}

}  // namespace
}  // namespace txmail

namespace txmail {
namespace {

TEST(Ids, BlockRecordIdsMapBack) {
  const std::string job = new_job_id();
  EXPECT_EQ(block_record_id(job, 0), job);
  const std::string b5 = block_record_id(job, 5);
  EXPECT_NE(b5, job);
  EXPECT_TRUE(is_job_id(b5));
  EXPECT_EQ(block_record_id(b5, 5), job);
  EXPECT_EQ(b5.substr(0, 28), job.substr(0, 28));
  EXPECT_EQ(mail_id_of(b5, 5, 2), mail_id(job, 5, 2));
  EXPECT_EQ(mail_id_of(job, 0, 7), mail_id(job, 0, 7));
}

}  // namespace
}  // namespace txmail
