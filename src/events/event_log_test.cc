#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <utility>

#include "events/sqlite_event_log.h"
#include "events/temp_log_testing.h"

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
  old_job.received_ms = now - std::int64_t{2} * 3600 * 1000;
  (*log)->append_job(old_job);
  Event old_event = make_event(Kind::kStarted);
  old_event.job_id = "old";
  old_event.ts_ms = now - std::int64_t{2} * 3600 * 1000;
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

// Cluster mode: an acceptance's `stored` runs only once the relay (the region's copy) says so,
// after the events are stored; without a relay it runs once they are stored.
TEST(EventLog, AcceptanceWaitsForTheRelayAfterTheEventsAreStored) {
  TempLog file("relay");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  constexpr auto kPatience = std::chrono::seconds(30);  // a broken relay fails, never hangs
  std::atomic<int> stored_batches{0};
  std::promise<std::pair<std::int64_t, int>> relayed;  // seq given, batches told by then
  std::promise<std::function<void()>> held;
  (*log)->set_region({.relay =
                          [&](std::int64_t seq, std::function<void()> done) {
                            relayed.set_value({seq, stored_batches.load()});
                            held.set_value(std::move(done));
                          },
                      .stored =
                          [&stored_batches] {
                            stored_batches.fetch_add(1);
                          }});
  std::promise<void> answered;
  auto answer = answered.get_future();
  Event e = make_event(Kind::kStarted);
  e.job_id = "job-r";
  (*log)->append_all({e}, [&answered] { answered.set_value(); });
  auto asked = relayed.get_future();
  ASSERT_EQ(asked.wait_for(kPatience), std::future_status::ready);
  const auto [seq, told] = asked.get();
  EXPECT_EQ(seq, 1);   // the seq its event was stored at
  EXPECT_EQ(told, 1);  // the publisher was told before the relay was asked
  EXPECT_EQ(answer.wait_for(std::chrono::seconds(0)), std::future_status::timeout);  // held
  auto release = held.get_future();
  ASSERT_EQ(release.wait_for(kPatience), std::future_status::ready);
  release.get()();
  ASSERT_EQ(answer.wait_for(kPatience), std::future_status::ready);

  // Without a relay the answer comes once the events are stored.
  (*log)->set_region({});
  std::promise<void> direct;
  auto stored = direct.get_future();
  (*log)->append_all({e}, [&direct] { direct.set_value(); });
  ASSERT_EQ(stored.wait_for(kPatience), std::future_status::ready);
  auto events = (*log)->for_job("job-r");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 2U);
  EXPECT_EQ(stored_batches.load(), 1);
}

// Copies of other nodes' events (origin set) are not this node's to publish: the region is
// told only of batches with events of this node's own.
TEST(EventLog, OnlyOwnEventsTellTheRegion) {
  TempLog file("told");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  std::atomic<int> told{0};
  (*log)->set_region({.relay = nullptr, .stored = [&told] {
                        told.fetch_add(1);
                      }});
  Event copy = make_event(Kind::kDelivered);
  copy.job_id = "job-c";
  copy.origin = "node-b";
  copy.origin_seq = 7;
  std::promise<bool> imported;
  auto done = imported.get_future();
  (*log)->import({copy}, {}, "region.imported", 1,
                 [&imported](bool ok) { imported.set_value(ok); });
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(done.get());
  EXPECT_EQ(told.load(), 0);
  Event own = make_event(Kind::kStarted);
  own.job_id = "job-o";
  std::promise<void> stored;
  auto own_stored = stored.get_future();
  (*log)->append_all({own}, [&stored] { stored.set_value(); });
  ASSERT_EQ(own_stored.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(told.load(), 1);
}

TEST(EventLog, ReadAfterFollowsTheLogWithJobData) {
  TempLog file("follow");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  auto empty = (*log)->read_after(0, 10);
  ASSERT_TRUE(empty) << empty.error().detail;
  EXPECT_TRUE(empty->empty());
  auto none = (*log)->last_seq();
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);

  JobInfo job;
  job.job_id = "job-a";
  job.account = "acme";
  job.received_ms = 1700000000123;
  job.sender = "bounce@acme.test";
  job.mime_from = "news@acme.test";
  job.reference_job = "ref-1";
  job.campaign_id = "spring";
  job.cost_center = "cc-9";
  job.endpoint_sealed = "sealed-endpoint";
  (*log)->append_job(job);
  std::vector<Event> appended;
  for (int i = 0; i < 5; ++i) {
    Event e = make_event(i == 4 ? Kind::kDelivered : Kind::kStarted);
    e.job_id = i == 2 ? "job-without-data" : "job-a";
    e.mail_id = e.job_id + "#" + std::to_string(i);
    e.account = "acme";
    e.recipient = "r" + std::to_string(i) + "@dest.test";
    e.remote_host = "mx.dest.test[192.0.2.1]";
    e.reply = "250 ok";
    e.attempt = 1;
    appended.push_back(e);
  }
  (*log)->append_all(appended, [] {});
  (*log)->close();  // stored

  // Read in pages of two: every event once, in order, with growing sequence numbers.
  std::vector<LoggedEvent> seen;
  std::int64_t cursor = 0;
  for (;;) {
    auto page = (*log)->read_after(cursor, 2);
    ASSERT_TRUE(page) << page.error().detail;
    ASSERT_LE(page->size(), 2U);
    if (page->empty()) {
      break;
    }
    for (auto& r : *page) {
      EXPECT_GT(r.seq, cursor);
      cursor = r.seq;
      seen.push_back(std::move(r));
    }
  }
  ASSERT_EQ(seen.size(), appended.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].event.tag, appended[i].tag) << i;
    EXPECT_EQ(seen[i].event.kind, appended[i].kind) << i;
    EXPECT_EQ(seen[i].event.mail_id, appended[i].mail_id) << i;
    EXPECT_EQ(seen[i].event.recipient, appended[i].recipient) << i;
    EXPECT_EQ(seen[i].event.ts_ms, appended[i].ts_ms) << i;
    EXPECT_EQ(seen[i].event.description(), "mx.dest.test[192.0.2.1]: 250 ok") << i;
  }
  const JobInfo& got = seen[0].job;
  EXPECT_EQ(got.job_id, "job-a");
  EXPECT_EQ(got.account, "acme");
  EXPECT_EQ(got.received_ms, 1700000000123);
  EXPECT_EQ(got.sender, "bounce@acme.test");
  EXPECT_EQ(got.mime_from, "news@acme.test");
  EXPECT_EQ(got.reference_job, "ref-1");
  EXPECT_EQ(got.campaign_id, "spring");
  EXPECT_EQ(got.cost_center, "cc-9");
  EXPECT_EQ(got.endpoint_sealed, "sealed-endpoint");
  // A job without stored data: its events come with empty job data.
  EXPECT_TRUE(seen[2].job.job_id.empty());
  EXPECT_EQ(seen[2].job.received_ms, 0);
  EXPECT_TRUE(seen[2].job.endpoint_sealed.empty());

  auto last = (*log)->last_seq();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, seen.back().seq);
  auto after_last = (*log)->read_after(*last, 10);
  ASSERT_TRUE(after_last);
  EXPECT_TRUE(after_last->empty());

  // Another process's read-only log reads the same.
  auto ro = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadOnly);
  ASSERT_TRUE(ro) << ro.error().detail;
  auto from_third = (*ro)->read_after(seen[1].seq, 100);
  ASSERT_TRUE(from_third);
  ASSERT_EQ(from_third->size(), 3U);
  EXPECT_EQ((*from_third)[0].event.tag, appended[2].tag);
}

// A follower reading while the writer writes sees every event exactly once, in order.
TEST(EventLog, ReadAfterWhileWritingMissesNothing) {
  TempLog file("follow-live");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  constexpr int kRounds = 40;
  constexpr int kPerRound = 50;
  std::vector<std::string> tags;
  std::thread writer([&log, &tags] {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<Event> events;
      for (int i = 0; i < kPerRound; ++i) {
        Event e = make_event(Kind::kStarted);
        e.job_id = "job-" + std::to_string(round);
        tags.push_back(e.tag);
        events.push_back(std::move(e));
      }
      (*log)->append_all(std::move(events), [] {});
    }
  });
  std::vector<std::string> seen;
  std::int64_t cursor = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.size() < static_cast<std::size_t>(kRounds) * kPerRound
         && std::chrono::steady_clock::now() < deadline) {
    auto page = (*log)->read_after(cursor, 64);
    ASSERT_TRUE(page) << page.error().detail;
    for (const auto& r : *page) {
      ASSERT_GT(r.seq, cursor);
      cursor = r.seq;
      seen.push_back(r.event.tag);
    }
    if (page->empty()) {
      std::this_thread::yield();
    }
  }
  writer.join();
  (*log)->close();
  EXPECT_EQ(seen, tags);
  auto rest = (*log)->read_after(cursor, 64);
  ASSERT_TRUE(rest);
  EXPECT_TRUE(rest->empty());
}

// Several threads append at once (single events, groups with a completion, job data) while
// one thread follows the log, another looks jobs up and a third watches the backlog (the
// ThreadSanitizer case, make test-tsan). The follower sees every event once, each appending
// thread's events in the order it appended them, and every completion runs once.
TEST(EventLog, ConcurrentAppendersFollowerAndLookups) {
  TempLog file("concurrent");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  SqliteEventLog& l = **log;
  constexpr int kAppenders = 3;
  constexpr int kRounds = 30;
  constexpr int kGroup = 4;
  constexpr std::size_t kTotal = std::size_t{kAppenders} * kRounds * (1 + kGroup);
  std::vector<std::vector<std::string>> appended(kAppenders);  // tags, each thread its own
  std::atomic<int> stored{0};
  std::vector<std::thread> appenders;
  appenders.reserve(kAppenders);
  for (int a = 0; a < kAppenders; ++a) {
    appenders.emplace_back([&, a] {
      for (int round = 0; round < kRounds; ++round) {
        const std::string job = "job-" + std::to_string(a) + "-" + std::to_string(round);
        JobInfo info;
        info.job_id = job;
        info.account = "acct-" + std::to_string(a);
        l.append_job(info);
        Event single = make_event(Kind::kStarted);
        single.job_id = job;
        single.mail_id = job + "#0";
        appended[static_cast<std::size_t>(a)].push_back(single.tag);
        l.append(std::move(single));
        std::vector<Event> group;
        for (int i = 0; i < kGroup; ++i) {
          Event e = make_event(Kind::kDelivered);
          e.job_id = job;
          e.mail_id = job + "#" + std::to_string(i + 1);
          appended[static_cast<std::size_t>(a)].push_back(e.tag);
          group.push_back(std::move(e));
        }
        l.append_all(std::move(group), [&stored] { ++stored; });
      }
    });
  }
  std::atomic<bool> following{true};
  std::thread lookups([&] {
    while (following.load()) {
      for (int a = 0; a < kAppenders; ++a) {
        auto events = l.for_job("job-" + std::to_string(a) + "-0");
        ASSERT_TRUE(events) << events.error().detail;
        EXPECT_LE(events->size(), static_cast<std::size_t>(1 + kGroup));
        auto mail = l.for_mail("job-" + std::to_string(a) + "-1#1");
        ASSERT_TRUE(mail) << mail.error().detail;
        EXPECT_LE(mail->size(), 1U);
      }
      (void)l.backlog();
      std::this_thread::yield();
    }
  });
  std::vector<LoggedEvent> seen;
  std::int64_t cursor = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.size() < kTotal && std::chrono::steady_clock::now() < deadline) {
    auto page = l.read_after(cursor, 50);
    ASSERT_TRUE(page) << page.error().detail;
    for (auto& r : *page) {
      ASSERT_GT(r.seq, cursor);
      cursor = r.seq;
      seen.push_back(std::move(r));
    }
    if (auto last = l.last_seq(); last) {
      EXPECT_GE(*last, cursor);
    }
    if (page->empty()) {
      std::this_thread::yield();
    }
  }
  for (auto& t : appenders) {
    t.join();
  }
  following = false;
  lookups.join();
  l.close();
  EXPECT_EQ(stored.load(), kAppenders * kRounds);
  ASSERT_EQ(seen.size(), kTotal);
  // Each thread's events in its own order; the job data stored before its events.
  std::vector<std::vector<std::string>> by_thread(kAppenders);
  for (const auto& r : seen) {
    const int a = r.event.job_id[4] - '0';
    ASSERT_TRUE(a >= 0 && a < kAppenders) << r.event.job_id;
    by_thread[static_cast<std::size_t>(a)].push_back(r.event.tag);
    EXPECT_EQ(r.job.job_id, r.event.job_id);
    EXPECT_EQ(r.job.account, "acct-" + std::to_string(a));
  }
  EXPECT_EQ(by_thread, appended);
}

// The retention may change while events flow (the writer reads it after every batch): fresh
// events stay. One thread sets it while another appends, each append waiting for its batch.
// Before the retention was atomic, ThreadSanitizer reported the setter against the writer's
// prune (in a node: set at start, read by the writer's first idle prune a minute later).
TEST(EventLog, RetentionChangesWhileAppending) {
  TempLog file("retention-live");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  constexpr int kEvents = 30;
  std::thread setter([&log] {
    for (int hours = 1; hours <= 20; ++hours) {
      (*log)->set_retention(std::chrono::hours(hours));
    }
  });
  std::thread appender([&log] {
    for (int i = 0; i < kEvents; ++i) {
      Event e = make_event(Kind::kStarted);
      e.job_id = "fresh";
      std::promise<void> stored;
      (*log)->append_all({e}, [&stored] { stored.set_value(); });
      stored.get_future().wait();
    }
  });
  appender.join();
  setter.join();
  (*log)->close();
  auto kept = (*log)->for_job("fresh");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), static_cast<std::size_t>(kEvents));
}

// Retention never empties the log: the newest event stays, so sequence numbers keep growing
// for followers (an emptied SQLite table would number the next event 1 again).
TEST(EventLog, RetentionKeepsSequenceNumbersGrowing) {
  TempLog file("retention-seq");
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::int64_t kept_seq = 0;
  {
    auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
    ASSERT_TRUE(log) << log.error().detail;
    (*log)->set_retention(std::chrono::hours(1));
    std::vector<Event> old;
    for (int i = 0; i < 3; ++i) {
      Event e = make_event(Kind::kDelivered);
      e.job_id = "old";
      e.ts_ms = now - std::int64_t{2} * 3600 * 1000;
      old.push_back(std::move(e));
    }
    (*log)->append_all(old, [] {});
    (*log)->close();  // the writer prunes after its batch
    auto left = (*log)->read_after(0, 10);
    ASSERT_TRUE(left);
    ASSERT_EQ(left->size(), 1U);
    EXPECT_EQ((*left)[0].event.tag, old.back().tag);
    kept_seq = (*left)[0].seq;
    auto last = (*log)->last_seq();
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, kept_seq);
  }
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  Event fresh = make_event(Kind::kStarted);
  fresh.job_id = "fresh";
  (*log)->append(fresh);
  (*log)->close();
  auto next = (*log)->read_after(kept_seq, 10);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 1U);
  EXPECT_EQ((*next)[0].event.tag, fresh.tag);
  EXPECT_GT((*next)[0].seq, kept_seq);
}

// Cluster mode (issue site-3, item 1): other nodes' events come in with their origin and the
// stream position they reach, in one transaction; a log made before the origin column gets it.
TEST(EventLog, ImportsKeepTheirOriginAndPosition) {
  TempLog file("import");
  {
    // A log of before the origin column: its events read as this node's own.
    store::sqlite::OpenOptions options;
    options.schema =
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, tag TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
        " kind INTEGER NOT NULL, job_id TEXT NOT NULL, mail_id TEXT NOT NULL, account TEXT NOT "
        "NULL, recipient TEXT NOT NULL, sender TEXT NOT NULL, attempt INTEGER NOT NULL,"
        " remote_host TEXT NOT NULL, reply TEXT NOT NULL, egress TEXT NOT NULL, tls TEXT NOT NULL);"
        "INSERT INTO events VALUES (1, 't0', 1, 0, 'old', 'old#0', 'acme', 'a@b.test', "
        "'s@acme.test',"
        " 1, '', '', '', '');"
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, account TEXT NOT NULL, received_ms INTEGER"
        " NOT NULL, sender TEXT NOT NULL, mime_from TEXT NOT NULL, reference_job TEXT NOT NULL,"
        " campaign_id TEXT NOT NULL, cost_center TEXT NOT NULL, endpoint TEXT NOT NULL);";
    auto old = store::sqlite::Db::open(file.path.string(), "old event log", options);
    ASSERT_TRUE(old) << old.error().detail;
  }
  {
    // Read-only (`txmail events` before the node's upgrade): read as it is, not changed.
    auto ro = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadOnly);
    ASSERT_TRUE(ro) << ro.error().detail;
    auto old_rows = (*ro)->for_job("old");
    ASSERT_TRUE(old_rows) << old_rows.error().detail;
    ASSERT_EQ(old_rows->size(), 1U);
    EXPECT_EQ((*old_rows)[0].origin, "");
    auto followed = (*ro)->read_after(0, 10);
    ASSERT_TRUE(followed) << followed.error().detail;
    EXPECT_EQ(followed->size(), 1U);
  }
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  auto none = (*log)->position("region.imported");
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_EQ(*none, 0);
  Event mine = make_event(Kind::kStarted);
  mine.job_id = "job-here";
  (*log)->append(mine);
  Event theirs = make_event(Kind::kDelivered);
  theirs.job_id = "job-there";
  theirs.origin = "node-b";
  // The job's data comes with its first event: a node that delivers the job later (it took the
  // job over) finds the job's own endpoint.
  JobInfo their_job;
  their_job.job_id = "job-there";
  their_job.account = theirs.account;
  their_job.endpoint_sealed = "sealed-endpoint";
  std::promise<bool> stored;
  (*log)->import({theirs}, {their_job}, "region.imported", 41,
                 [&](bool ok) { stored.set_value(ok); });
  EXPECT_TRUE(stored.get_future().get());
  // The stream delivers the same copy again (after a restart of its consumer): stored once.
  std::promise<bool> again;
  (*log)->import({theirs}, {}, "region.imported", 42, [&](bool ok) { again.set_value(ok); });
  EXPECT_TRUE(again.get_future().get());
  (*log)->record_position("region.published", 7);
  (*log)->close();
  auto rows = (*log)->read_after(0, 10);
  ASSERT_TRUE(rows) << rows.error().detail;
  ASSERT_EQ(rows->size(), 3U);
  EXPECT_EQ((*rows)[0].event.job_id, "old");
  EXPECT_EQ((*rows)[0].event.origin, "");
  EXPECT_EQ((*rows)[1].event.tag, mine.tag);
  EXPECT_EQ((*rows)[1].event.origin, "");
  EXPECT_EQ((*rows)[2].event.tag, theirs.tag);
  EXPECT_EQ((*rows)[2].event.origin, "node-b");
  EXPECT_EQ((*rows)[2].job.endpoint_sealed, "sealed-endpoint");
  auto found = (*log)->for_job("job-there");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1U);
  EXPECT_EQ((*found)[0].kind, Kind::kDelivered);
  auto imported = (*log)->position("region.imported");
  auto published = (*log)->position("region.published");
  ASSERT_TRUE(imported && published);
  EXPECT_EQ(*imported, 42);
  EXPECT_EQ(*published, 7);
}

// The node that takes a dead node's notifications over reads that node's events from its copies,
// by their numbers in the dead node's log: in that order, from a position on, never another
// origin's nor its own.
TEST(EventLog, CopiesReadInTheirOriginsOrder) {
  TempLog file("copies");
  auto log = SqliteEventLog::open(file.path.string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  auto copy = [](const std::string& origin, std::int64_t seq, const std::string& job) {
    Event e = make_event(Kind::kDelivered);
    e.job_id = job;
    e.origin = origin;
    e.origin_seq = seq;
    return e;
  };
  Event mine = make_event(Kind::kStarted);
  mine.job_id = "job-here";
  (*log)->append(mine);
  JobInfo job;
  job.job_id = "job-b1";
  job.endpoint_sealed = "sealed-b1";
  std::promise<bool> stored;
  // Stored out of their origin's order (a publish round sent again after a partial failure).
  (*log)->import({copy("node-b", 12, "job-b1"), copy("node-c", 5, "job-c"),
                  copy("node-b", 10, "job-b1"), copy("node-b", 14, "job-b2")},
                 {job}, "region.imported", 4, [&](bool ok) { stored.set_value(ok); });
  ASSERT_TRUE(stored.get_future().get());
  (*log)->close();
  auto from_start = (*log)->read_copies_after("node-b", 0, 10);
  ASSERT_TRUE(from_start) << from_start.error().detail;
  std::vector<std::int64_t> seqs;
  for (const auto& r : *from_start) {
    EXPECT_EQ(r.event.origin, "node-b");
    seqs.push_back(r.seq);
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{10, 12, 14}));
  EXPECT_EQ((*from_start)[0].job.endpoint_sealed, "sealed-b1");  // the job's data joined
  EXPECT_EQ((*from_start)[2].job.endpoint_sealed, "");
  auto after = (*log)->read_copies_after("node-b", 10, 1);
  ASSERT_TRUE(after) << after.error().detail;
  ASSERT_EQ(after->size(), 1U);
  EXPECT_EQ((*after)[0].seq, 12);
  auto own = (*log)->read_copies_after("", 0, 10);  // this node's events are no copies
  ASSERT_TRUE(own) << own.error().detail;
  EXPECT_TRUE(own->empty());
  auto none = (*log)->read_copies_after("node-d", 0, 10);
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_TRUE(none->empty());
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
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1",
                         "::ffff:10.0.0.1", "224.0.0.1", "not-an-ip"}) {
    EXPECT_TRUE(private_address(ip)) << ip;
  }
  for (const char* ip :
       {"8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:4860:4860::8888", "::ffff:8.8.4.4"}) {
    EXPECT_FALSE(private_address(ip)) << ip;
  }
  EXPECT_EQ(default_retry_schedule().size(), 15U);
}

}  // namespace
}  // namespace txmail::events
