#include <gtest/gtest.h>

#include <filesystem>

#include "events/sqlite_event_log.h"

namespace txmail::events {
namespace {

TEST(EventLog, AppendsAndReadsByJobInOrder) {
  const auto path = std::filesystem::temp_directory_path()
                    / ("txmail-events-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    auto log = SqliteEventLog::open(path.string(), SqliteEventLog::Mode::kReadWrite);
    ASSERT_TRUE(log) << log.error().detail;
    for (int i = 0; i < 3; ++i) {
      Event e = make_event(i < 2 ? Kind::kDeferred : Kind::kDelivered);
      e.job_id = "job-1";
      e.mail_id = "job-1#00000000#00000000";
      e.attempt = static_cast<std::uint32_t>(i + 1);
      e.reply = "reply " + std::to_string(i);
      (*log)->append(e);
    }
    Event other = make_event(Kind::kBouncedHard);
    other.job_id = "job-2";
    (*log)->append(other);
    (*log)->close();
    auto events = (*log)->for_job("job-1");
    ASSERT_TRUE(events);
    ASSERT_EQ(events->size(), 3U);
    EXPECT_EQ((*events)[0].type(), "DEFERRED");
    EXPECT_EQ((*events)[0].state(), "INTERMEDIATE");
    EXPECT_EQ((*events)[2].type(), "DELIVERED");
    EXPECT_EQ((*events)[2].sub_type(), "OK");
    EXPECT_EQ((*events)[1].attempt, 2U);
    EXPECT_NE((*events)[0].tag, (*events)[1].tag);
  }
  auto ro = SqliteEventLog::open(path.string(), SqliteEventLog::Mode::kReadOnly);
  ASSERT_TRUE(ro);
  auto events = (*ro)->for_job("job-2");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].sub_type(), "HARD_BOUNCE");
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path.string() + suffix);
  }
}

}  // namespace
}  // namespace txmail::events

namespace txmail::events {
namespace {

TEST(EventLog, RetentionRemovesOldEventsAndJobs) {
  const auto path = std::filesystem::temp_directory_path()
                    / ("txmail-events-retention-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  auto log = SqliteEventLog::open(path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  (*log)->set_retention(std::chrono::hours(1));
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  JobInfo old_job;
  old_job.job_id = "old";
  old_job.received_ms = now - 2 * 3600 * 1000;
  (*log)->append_job(old_job);
  Event old_event = make_event(Kind::kStarted);
  old_event.job_id = "old";
  old_event.ts_ms = now - 2 * 3600 * 1000;
  Event fresh = make_event(Kind::kStarted);
  fresh.job_id = "fresh";
  (*log)->append_all({old_event, fresh}, [] {});
  (*log)->close();  // the writer prunes after its batch
  auto gone = (*log)->for_job("old");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());
  auto kept = (*log)->for_job("fresh");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), 1U);
  std::filesystem::remove(path);
}

TEST(Endpoint, JsonRoundTrip) {
  Endpoint e{"https://hooks.test/x", {{"X-A", "1"}, {"X-B", "two"}}, "user", "pass"};
  auto back = endpoint_from_json(to_json(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->url, e.url);
  EXPECT_EQ(back->user, "user");
  EXPECT_EQ(back->password, "pass");
  EXPECT_EQ(back->headers.size(), 2U);
  EXPECT_FALSE(endpoint_from_json("not json"));
}

}  // namespace
}  // namespace txmail::events

#include "events/webhooks.h"

namespace txmail::events {
namespace {

TEST(Webhooks, PrivateTargets) {
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                         "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "224.0.0.1", "not-an-ip"}) {
    EXPECT_TRUE(private_address(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:4860:4860::8888", "::ffff:8.8.4.4"}) {
    EXPECT_FALSE(private_address(ip)) << ip;
  }
  EXPECT_EQ(default_retry_schedule().size(), 15U);
}

}  // namespace
}  // namespace txmail::events
