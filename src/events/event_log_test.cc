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
