#include "cluster/spool_subjects.h"

#include <gtest/gtest.h>

namespace txmail::cluster {
namespace {

const SpoolId kSpool{.site = "a", .node = "node.a", .generation = 3};
const std::string kJob = "0190f0c2-7b1d-7cc0-8f00-000000000001";

TEST(SpoolSubjects, NamesEveryPartOfAJobUnderItsSpool) {
  EXPECT_EQ(spool_stream("a"), "TXMAIL_SPOOL_a");
  EXPECT_EQ(spool_stream_subjects("a"), "txmail.spool.a.>");
  EXPECT_EQ(kSpool.text(), "a/node.a/3");
  EXPECT_EQ(spool_filter(kSpool), "txmail.spool.a.node=2Ea.3.>");
  EXPECT_EQ(subject_site(part_subject(kSpool, kJob, Part::kFinals)), "a");
  EXPECT_EQ(subject_site("txmail.spool.b"), "b");
  EXPECT_EQ(subject_site("$KV.x.y"), "");
  EXPECT_EQ(part_subject(kSpool, kJob, Part::kRecord), "txmail.spool.a.node=2Ea.3." + kJob + ".m");
  EXPECT_EQ(part_subject(kSpool, kJob, Part::kChunk, 7),
            "txmail.spool.a.node=2Ea.3." + kJob + ".c.0007");
  EXPECT_EQ(part_subject(kSpool, kJob, Part::kFinals), "txmail.spool.a.node=2Ea.3." + kJob + ".f");
  EXPECT_EQ(part_msg_id(kSpool, kJob, Part::kFinals, 2), "a/node.a/3/" + kJob + "/f2");
  EXPECT_NE(part_msg_id(kSpool, kJob, Part::kChunk, 1), part_msg_id(kSpool, kJob, Part::kChunk, 2));
  SpoolId next = kSpool;
  ++next.generation;
  EXPECT_NE(part_msg_id(kSpool, kJob, Part::kRecord), part_msg_id(next, kJob, Part::kRecord))
      << "a job published again into a new generation is never taken for a duplicate";
}

TEST(SpoolSubjects, ParsesWhatItNamesAndNothingElse) {
  for (const auto part : {Part::kRecord, Part::kChunk, Part::kFinals}) {
    auto parsed = parse_part_subject(kSpool, part_subject(kSpool, kJob, part, 12));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->job_id, kJob);
    EXPECT_EQ(parsed->part, part);
    EXPECT_EQ(parsed->chunk, part == Part::kChunk ? 12U : 0U);
  }
  const std::string base = job_subject(kSpool, kJob);
  for (const std::string& bad :
       {base, base + ".x", base + ".c.12", base + ".c.00a1", base + ".c.00001", base + ".m.x",
        std::string("txmail.spool.a.node=2Ea.3..m"), std::string("txmail.spool.b.node=2Ea.3.j.m"),
        std::string("txmail.spool.a.node=2Ea.4.j.m")}) {
    EXPECT_FALSE(parse_part_subject(kSpool, bad)) << bad;
  }
}

TEST(SpoolSubjects, FindsTheJobOfEverySubjectOfTheSpool) {
  const std::string base = job_subject(kSpool, kJob);
  for (const std::string& subject : {base + ".m", base + ".f", base + ".c.00012", base + ".x"}) {
    EXPECT_EQ(subject_job(kSpool, subject), kJob) << subject;
  }
  for (const std::string& other : {base, base + ".", std::string("txmail.spool.a.node=2Ea.3..m"),
                                   std::string("txmail.spool.a.node=2Ea.4.j.m"),
                                   std::string("txmail.spool.b.node=2Ea.3.j.x")}) {
    EXPECT_FALSE(subject_job(kSpool, other)) << other;
  }
}

TEST(SpoolSubjects, FindsTheSpoolAndJobOfAnySubjectOfAStream) {
  const std::string base = job_subject(kSpool, kJob);
  for (const std::string& subject : {base + ".m", base + ".f", base + ".c.00012", base + ".x"}) {
    auto found = parse_spool_subject(subject);
    ASSERT_TRUE(found) << subject;
    EXPECT_EQ(found->spool, kSpool) << subject;
    EXPECT_EQ(found->job_id, kJob) << subject;
  }
  auto other = parse_spool_subject("txmail.spool.b.node-b.12.j1.m");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->spool, (SpoolId{.site = "b", .node = "node-b", .generation = 12}));
  EXPECT_EQ(other->job_id, "j1");
  for (const std::string& bad :
       {base, base + ".", std::string("txmail.spool.a.node=2Ea.3..m"),
        std::string("txmail.spool.a.node=2Ea.0.j.m"), std::string("txmail.spool.a.node=2Ea.x3.j.m"),
        std::string("txmail.spool.a.node=ZZ.3.j.m"), std::string("txmail.spool.a..3.j.m"),
        std::string("txmail.other.a.n.3.j.m"), std::string("txmail.spool.a.n.3")}) {
    EXPECT_FALSE(parse_spool_subject(bad)) << bad;
  }
}

TEST(SpoolSubjects, AMessageGoesInlineUpToTheLimitThenInChunks) {
  constexpr std::int64_t kPayload = 1 << 20;
  constexpr std::size_t kLimit = (1 << 20) - kHeaderRoom;
  EXPECT_EQ(chunk_plan(kLimit, kLimit - 200, kPayload).chunks, 0U);
  auto one = chunk_plan(kLimit + 1, kLimit - 199, kPayload);
  EXPECT_EQ(one.chunks, 1U);
  EXPECT_EQ(one.chunk_size, kLimit);
  auto twenty = chunk_plan(20'000'300, 20'000'000, kPayload);
  EXPECT_EQ(twenty.chunks, (20'000'000 + kLimit - 1) / kLimit);
  EXPECT_GE(twenty.chunks * twenty.chunk_size, 20'000'000U);
  auto small_server = chunk_plan(70'000, 69'000, 65'536);
  EXPECT_EQ(small_server.chunk_size, 65'536U - kHeaderRoom);
  EXPECT_EQ(small_server.chunks, 2U);
  EXPECT_EQ(chunk_plan(100, 10, 0).chunks, 0U) << "an unknown payload limit means the default";
}

TEST(SpoolSubjects, ARecordPartFitsUpToThePayloadOrTheStreamsLimitLessTheHeaders) {
  constexpr std::int64_t kPayload = 1 << 20;
  EXPECT_TRUE(record_part_fits((1 << 20) - kHeaderRoom, 10, kPayload));
  auto over = record_part_fits((1 << 20) - kHeaderRoom + 1, 6000, kPayload);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(over.error().detail.find("6000 recipients"), std::string::npos) << over.error().detail;
  // A 64 MB max_payload: the stream's MaxMsgSize (8 MB) is the limit.
  EXPECT_TRUE(record_part_fits(kSpoolMaxMsgSize - kHeaderRoom, 1, std::int64_t{64} << 20));
  EXPECT_FALSE(record_part_fits(kSpoolMaxMsgSize - kHeaderRoom + 1, 1, std::int64_t{64} << 20));
  EXPECT_TRUE(record_part_fits((1 << 20) - kHeaderRoom, 1, 0)) << "unknown: the default 1 MB";
  EXPECT_FALSE(record_part_fits((1 << 20) - kHeaderRoom + 1, 1, 0));
}

}  // namespace
}  // namespace txmail::cluster
