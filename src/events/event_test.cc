#include "events/event.h"

#include <gtest/gtest.h>

namespace txmail::events {
namespace {

JobInfo sample_job() {
  JobInfo j;
  j.job_id = "0190a5f2-0000-7000-8000-000000000001";
  j.account = "acme";
  j.received_ms = 1'700'000'000'123;
  j.sender = "bounce@acme.example";
  j.mime_from = "jöran@acme.example";
  j.reference_job = "order \"42\"\r\n";
  j.campaign_id = "spring";
  j.cost_center = "cc-7";
  j.endpoint_sealed = "c2VhbGVk";
  return j;
}

bool same(const JobInfo& a, const JobInfo& b) {
  return a.job_id == b.job_id && a.account == b.account && a.received_ms == b.received_ms
         && a.sender == b.sender && a.mime_from == b.mime_from && a.reference_job == b.reference_job
         && a.campaign_id == b.campaign_id && a.cost_center == b.cost_center
         && a.endpoint_sealed == b.endpoint_sealed;
}

// What a cluster spool carries with a record reads back as the job's data, its own id with it
// (a block's record has an id of its own); the text is one line, whatever the fields hold.
TEST(JobData, RoundTripsWithItsJobId) {
  const JobInfo job = sample_job();
  const std::string data = job_data(job);
  EXPECT_EQ(data.find_first_of("\r\n"), std::string::npos) << data;
  auto back = job_info_from_data(data);
  ASSERT_TRUE(back);
  EXPECT_TRUE(same(*back, job));
  // In the events stream the event has the id: the object is without it.
  EXPECT_FALSE(to_json(job).contains("job"));
  auto from_event = job_info_from_json(to_json(job), job.job_id);
  ASSERT_TRUE(from_event);
  EXPECT_TRUE(same(*from_event, job));
}

TEST(JobData, WhatIsNotAJobObjectIsRefused) {
  EXPECT_FALSE(job_info_from_data(""));
  EXPECT_FALSE(job_info_from_data("{\"job\":\"j\",\"account\":"));
  EXPECT_FALSE(job_info_from_data("[1,2]"));
  EXPECT_FALSE(job_info_from_data(R"({"account":"acme"})")) << "no job id";
  EXPECT_FALSE(job_info_from_data(R"({"job":""})")) << "an empty job id";
  EXPECT_FALSE(job_info_from_json(to_json(sample_job()), ""));
  // Fields of the wrong type, or missing, are empty rather than an error (an older node's data).
  auto partial = job_info_from_data(R"({"job":"j","account":7,"endpoint":"x"})");
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->account, "");
  EXPECT_EQ(partial->endpoint_sealed, "x");
  EXPECT_EQ(partial->received_ms, 0);
}

}  // namespace
}  // namespace txmail::events
