// EventsFirstSpool: delivery's spool writes wait for the events recorded before them, and
// reach the wrapped spool in the order they were made.
#include "events/events_first_spool.h"

#include <gtest/gtest.h>

#include <mutex>

#include "events/recording_spool_testing.h"
#include "events/sqlite_event_log.h"
#include "events/temp_log_testing.h"

namespace txmail::events {
namespace {

constexpr auto kPatience = std::chrono::seconds(30);  // a broken build fails, never hangs

// A log whose barriers the test releases, in any order.
class HeldLog final : public EventLog {
 public:
  void append(Event /*event*/) override {}

  void append_all(std::vector<Event> /*events*/, std::function<void()> stored) override {
    stored();
  }

  void after_stored(std::function<void()> done) override {
    std::lock_guard lock(mutex_);
    held_.push_back(std::move(done));
  }

  void append_job(JobInfo /*info*/) override {}

  Result<std::vector<Event>> for_job(const std::string& /*job_id*/) override {
    return std::vector<Event>{};
  }

  Result<std::vector<Event>> for_mail(const std::string& /*mail_id*/) override {
    return std::vector<Event>{};
  }

  Result<std::vector<LoggedEvent>> read_after(std::int64_t /*after*/,
                                              std::size_t /*limit*/) override {
    return std::vector<LoggedEvent>{};
  }

  Result<std::int64_t> last_seq() override { return std::int64_t{0}; }

  void close() override {}

  void release(std::size_t i) {
    std::function<void()> done;
    {
      std::lock_guard lock(mutex_);
      done = std::move(held_.at(i));
    }
    done();
  }

 private:
  std::mutex mutex_;
  std::vector<std::function<void()>> held_;
};

TEST(EventsFirstSpool, WritesWaitForTheirEventsAndKeepTheirOrder) {
  RecordingSpool inner;
  HeldLog log;
  EventsFirstSpool spool(inner, log);
  spool.update_recipients("job-1", {}, [](const Result<void>&) {});
  spool.erase("job-2", [](const Result<void>&) {});
  spool.erase("job-1", [](const Result<void>&) {});
  EXPECT_EQ(spool.held(), 3U);

  log.release(2);  // the last barrier first: its write waits for the two before it
  log.release(1);
  EXPECT_TRUE(inner.writes(1, std::chrono::milliseconds(0)).empty());
  EXPECT_EQ(spool.flush(std::chrono::milliseconds(0)), 3U);

  log.release(0);
  const auto writes = inner.writes(3, kPatience);
  ASSERT_EQ(writes.size(), 3U);
  EXPECT_EQ(writes[0].what + " " + writes[0].job_id, "update job-1");
  EXPECT_EQ(writes[1].what + " " + writes[1].job_id, "erase job-2");
  EXPECT_EQ(writes[2].what + " " + writes[2].job_id, "erase job-1");
  EXPECT_EQ(spool.flush(kPatience), 0U);
}

TEST(EventsFirstSpool, AJobLeavesTheSpoolOnceItsOutcomeIsOnDisk) {
  TempLog file("events-first");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  SqliteEventLog& events = **log;
  // At each write: how many events of its job the log holds (read on the lookups' connection).
  std::string job;
  RecordingSpool inner([&events, &job] {
    auto stored = events.for_job(job);
    return stored ? static_cast<std::int64_t>(stored->size()) : -1;
  });
  EventsFirstSpool spool(inner, events);
  for (int i = 1; i <= 3; ++i) {
    job = "job-" + std::to_string(i);
    Event e = make_event(Kind::kDelivered);
    e.job_id = job;
    e.mail_id = job + "#00000000#00000000";
    e.recipient = "ann@dest.test";
    events.append(e);  // as delivery's outcome sink does, right before the spool write
    spool.erase(job, [](const Result<void>&) {});
    const auto writes = inner.writes(static_cast<std::size_t>(i), kPatience);
    ASSERT_EQ(writes.size(), static_cast<std::size_t>(i));
    EXPECT_EQ(writes.back().probed, 1) << job;
  }
  EXPECT_EQ(spool.flush(kPatience), 0U);
  events.close();
}

}  // namespace
}  // namespace txmail::events
