#include "cluster/job_parts.h"

#include <gtest/gtest.h>

#include <string>

namespace txmail::cluster {
namespace {

store::SpoolRecord job(std::size_t recipients, std::size_t message_bytes) {
  store::SpoolRecord r;
  r.job_id = "01a23900-0000-7000-8000-000000000001";
  r.account = "alice";
  r.sender = "shop@example.com";
  for (std::size_t i = 0; i < recipients; ++i) {
    r.recipients.push_back(
        {.address = "r" + std::to_string(i) + std::string(150, 'x') + "@dest.test",
         .mail_id = r.job_id + "#00000000#" + std::to_string(i)});
  }
  r.message.assign(message_bytes, 'm');
  return r;
}

const SpoolId kSpool{.site = "a", .node = "node-a", .generation = 1};
constexpr std::int64_t kOneMiB = 1 << 20;

// What put() refuses is what job_fits (the REST API's check) refuses: the record part of a
// chunked job over one message; an inline record is never refused, even at the inline limit.
bool put_would_refuse(const store::SpoolRecord& r, std::int64_t max_payload) {
  auto parts = job_parts(kSpool, r, max_payload);
  return parts.size() > 1
         && !record_part_fits(parts.back().payload.size(), r.recipients.size(), max_payload);
}

TEST(JobParts, JobFitsAgreesWithTheRecordPartAroundTheInlineLimit) {
  const std::size_t head = store::encode(job(1, 0)).size();
  const std::size_t limit = kOneMiB - kHeaderRoom;
  for (std::size_t message = limit - head - 8; message <= limit - head + 8; ++message) {
    auto r = job(1, message);
    EXPECT_TRUE(job_fits(r, kOneMiB)) << message;
    EXPECT_FALSE(put_would_refuse(r, kOneMiB)) << message;
  }
}

TEST(JobParts, TooManyRecipientsForOneMessageAreRefusedWhateverTheMessage) {
  for (std::size_t message : {std::size_t{100}, std::size_t{3} << 20}) {
    auto r = job(7000, message);  // about 1.3 MB of recipients
    auto fits = job_fits(r, kOneMiB);
    ASSERT_FALSE(fits) << message;
    EXPECT_EQ(fits.error().code, ErrorCode::kTooLarge);
    EXPECT_TRUE(put_would_refuse(r, kOneMiB)) << message;
    EXPECT_TRUE(job_fits(r, std::int64_t{8} << 20)) << "an 8 MB max_payload holds them";
    EXPECT_FALSE(put_would_refuse(r, std::int64_t{8} << 20));
  }
  EXPECT_TRUE(job_fits(job(7000, 100), 0)) << "the limit unknown (never connected): not refused";
}

TEST(JobParts, AChunkedJobIsItsChunksThenItsHead) {
  auto r = job(2, std::size_t{5} << 20);
  r.job_data = R"({"endpoint":"sealed"})";
  auto parts = job_parts(kSpool, r, kOneMiB);
  ASSERT_EQ(parts.size(), 7U);  // 5 MiB in chunks of 1 MiB less the header room, then the head
  std::string joined;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    joined += parts[i].payload;
  }
  EXPECT_EQ(joined, r.message);
  EXPECT_EQ(parts.back().subject, part_subject(kSpool, r.job_id, Part::kRecord));
  auto head = store::decode(parts.back().payload);
  ASSERT_TRUE(head);
  EXPECT_TRUE(head->message.empty());
  EXPECT_EQ(head->recipients, r.recipients);
  EXPECT_EQ(head->job_data, r.job_data) << "the job's data travels in its head";
}

TEST(JobParts, AnInlineRecordCarriesTheJobData) {
  auto r = job(1, 1000);
  r.job_data = R"({"endpoint":"sealed"})";
  auto parts = job_parts(kSpool, r, kOneMiB);
  ASSERT_EQ(parts.size(), 1U);
  auto back = store::decode(parts.front().payload);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
}

}  // namespace
}  // namespace txmail::cluster
