#include "store/spool_record.h"

#include <gtest/gtest.h>

namespace txmail::store {
namespace {

SpoolRecord sample() {
  SpoolRecord r;
  r.job_id = "0190a5f2-0000-7000-8000-000000000001";
  r.account = "acme";
  r.sender = "bounce@acme.example";
  r.received_ms = 1'700'000'000'123;
  r.flags = SpoolRecord::kFlag8BitMime;
  r.recipients = {
      {"a@x.example", r.job_id + "#00000000#00000000", RecipientStatus::kQueued, 0, 5},
      {"b@y.example", r.job_id + "#00000000#00000001", RecipientStatus::kDelivered, 3, -1}};
  r.message = std::string("Subject: hi\r\n\r\n\0binary\xff\r\n", 25);
  return r;
}

TEST(SpoolRecord, RoundTrips) {
  const SpoolRecord r = sample();
  auto back = decode(encode(r));
  ASSERT_TRUE(back) << back.error().detail;
  EXPECT_EQ(*back, r);
}

TEST(SpoolRecord, NullSenderAndNoRecipientsRoundTrip) {
  SpoolRecord r;
  r.job_id = "j";
  auto back = decode(encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
}

// A record with job data (cluster mode) is version 2; one without stays version 1, the bytes
// every release reads.
TEST(SpoolRecord, JobDataRoundTripsAsVersionTwo) {
  SpoolRecord r = sample();
  EXPECT_EQ(encode(r)[3], static_cast<char>(SpoolRecord::kFormatVersion));
  r.job_data = R"({"account":"acme","endpoint":"sealed"})";
  const std::string bytes = encode(r);
  EXPECT_EQ(bytes[3], static_cast<char>(SpoolRecord::kFormatWithJobData));
  auto back = decode(bytes);
  ASSERT_TRUE(back) << back.error().detail;
  EXPECT_EQ(*back, r);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    ASSERT_FALSE(decode(std::string_view{bytes}.substr(0, n))) << "prefix of " << n << " bytes";
  }
  // Version 1 with job data after it, or version 2 with none: neither is what encode() writes.
  std::string v1_with_data = bytes;
  v1_with_data[3] = static_cast<char>(SpoolRecord::kFormatVersion);
  EXPECT_EQ(decode(v1_with_data).error().detail, "spool record: bytes after the record");
  std::string v2_without = encode(sample());
  v2_without[3] = static_cast<char>(SpoolRecord::kFormatWithJobData);
  EXPECT_EQ(decode(v2_without).error().detail, "spool record: truncated job data");
  // The head size counts the job data too (a cluster spool's record part must hold it).
  r.message.clear();
  EXPECT_EQ(encoded_head_size(r), encode(r).size());
}

TEST(SpoolRecord, EveryTruncationIsRefused) {
  const std::string bytes = encode(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  }
}

// A damaged recipient count is refused before a recipient is allocated (a 14-byte record once
// took 15 s under the fuzzer to build and drop a million empty recipients).
TEST(SpoolRecord, RecipientCountPastTheEndIsRefused) {
  const std::string record = std::string("TXS") + static_cast<char>(SpoolRecord::kFormatVersion)
                             + std::string("\x00\x00\x00\x00\x00\xc0\x84\x3d\x00", 9);
  auto r = decode(record);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().detail, "spool record: recipient count past the end");
  // Recipient state: version 1, 965,978 recipients in 9 bytes (the fuzzer's input).
  const std::string state("\x01\xda\xfa\x3a\x05\x00\x00\x00\x00\x01\x02\x04\x05\x5c", 14);
  auto s = decode_recipients(state);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().detail, "spool record: truncated recipient state");
  EXPECT_TRUE(decode_recipients(encode_recipients(sample().recipients)));
}

// The SMTP listener's running total at RCPT is what encode() would give: a record without its
// message, recipient by recipient, whatever the varints' widths.
TEST(SpoolRecord, HeadSizesAreWhatEncodeGives) {
  SpoolRecord r = sample();
  r.message.clear();
  EXPECT_EQ(encoded_head_size(r), encode(r).size());
  SpoolRecord head = r;
  head.recipients.clear();
  std::size_t running = encoded_head_size(head);
  for (const auto& rcpt : r.recipients) {
    running += encoded_size(rcpt);
  }
  EXPECT_EQ(running, encode(r).size());
  // 200 recipients: the count takes two bytes; a long address, a two-byte length.
  r.recipients.clear();
  for (std::uint32_t i = 0; i < 200; ++i) {
    r.recipients.push_back({.address = std::string(150 + i, 'a') + "@example.com",
                            .mail_id = "m" + std::to_string(i),
                            .status = RecipientStatus::kQueued,
                            .attempts = i * 1000,
                            .next_attempt_ms = -(static_cast<std::int64_t>(i) << 40)});
  }
  EXPECT_EQ(encoded_head_size(r), encode(r).size());
}

TEST(SpoolRecord, UnknownVersionIsRefused) {
  std::string bytes = encode(sample());
  bytes[3] = 99;
  EXPECT_FALSE(decode(bytes));
  bytes = encode(sample()) + "x";
  EXPECT_FALSE(decode(bytes));
}

}  // namespace
}  // namespace txmail::store
