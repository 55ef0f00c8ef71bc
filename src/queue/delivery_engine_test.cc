// The delivery engine's waits (issue deliver-2): every way a unit can wait for something (a
// slot of its egress source, its destination's connection limit, its destination's rate, a
// back-off after a failure, a DNS lookup slot) ends by its own wake-up when the reason ends,
// never by polling and never not at all. Time is txmail's one clock, moved by the test
// (Clock::advance): a wait that needs time passes only when the test moves it, and one that
// needs none is over while the clock stands still. The destinations are minimal SMTP servers
// on loopback inside the test; the spool is a RocksSpool in a temporary directory.
#include <thread>

#include "queue/engine_test_fixture.h"

namespace txmail::queue::engine_test {
namespace {

using namespace std::chrono_literals;

// The source has one slot. a's connection, done, sits idle (for an hour, as configured); b
// waits for the slot, and a's idle connection gives it back at once: nobody waits for the
// idle time to end. Before issue deliver-2 b waited until a's connection quit, and a
// destination that came to wait while the source was full was never woken at all.
TEST_F(EngineTest, SourceSlotFreedWakesTheNextDestination) {
  TestMx& a = mx();
  TestMx& b = mx();
  TestMx& c = mx();
  route("a.test", a);
  route("b.test", b);
  route("c.test", c);
  options_.max_connections_per_source = 1;
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 60s));
  send("x@b.test");
  send("x@c.test");
  ASSERT_TRUE(run_until([&] { return delivered("x@b.test") && delivered("x@c.test"); }, 60s))
      << "a destination waiting for the source's slot was not woken";
  EXPECT_EQ(a.max_open + b.max_open + c.max_open, 3);
  EXPECT_LE(a.max_open, 1);
  EXPECT_EQ(a.connections, 1);
  EXPECT_EQ(b.connections, 1);
  EXPECT_EQ(c.connections, 1);
}

// The destination allows one connection and one message per connection: the second and third
// messages wait for that connection to end and go out on the next, one at a time.
TEST_F(EngineTest, DestinationLimitWaitEndsWithTheConnection) {
  TestMx& a = mx();
  route("a.test", a);
  options_.max_connections_per_site = 1;
  options_.max_messages_per_connection = 1;
  start();
  for (int i = 0; i < 3; ++i) {
    send("m" + std::to_string(i) + "@a.test");
  }
  ASSERT_TRUE(run_until([&] { return a.messages == 3; }, 60s));
  EXPECT_EQ(a.max_open, 1);
  EXPECT_EQ(a.connections, 3);
}

// The destination takes one message an hour: the second waits for the clock, and goes as soon
// as it has moved, not before (an hour: the real time a slow test takes is no part of it).
TEST_F(EngineTest, RateWaitEndsWhenTheClockReachesTheNextSlot) {
  TestMx& a = mx();
  route("a.test", a);
  options_.rate_per_site = 1.0 / 3600;
  start();
  send("one@a.test");
  send("two@a.test");
  ASSERT_TRUE(run_until([&] { return a.messages == 1; }, 60s));
  settle();
  EXPECT_EQ(a.messages, 1) << "the second message did not wait for its rate";
  Clock::advance(30min);
  settle();
  EXPECT_EQ(a.messages, 1) << "sent half-way through the interval";
  Clock::advance(30min);
  ASSERT_TRUE(run_until([&] { return a.messages == 2; }, 60s))
      << "the rate wait did not end when the clock reached the next slot";
}

// A destination that refuses connections is backed off and its unit deferred; when the MX
// is back and the retry time has come, the unit goes out, without anything else happening.
TEST_F(EngineTest, BackoffWaitEndsAtTheRetryTime) {
  const std::uint16_t port = refused_port();
  options_.routes.push_back(RouteRule{"a.test", smtp::Route{"127.0.0.1", port}});
  options_.retry.schedule = {std::chrono::hours(1)};
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 60s));
  // The MX is back on that port; until the clock reaches the retry time nothing happens.
  TestMx& back = mx(port);
  settle();
  EXPECT_EQ(back.connections, 0) << "retried before the back-off ended";
  Clock::advance(std::chrono::minutes(40));
  settle();
  EXPECT_EQ(back.connections, 0) << "retried before the back-off ended";
  Clock::advance(std::chrono::minutes(40));  // past 1 h + 20% jitter
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 60s))
      << "the back-off wait did not end at the retry time";
  EXPECT_EQ(back.connections, 1);
}

// One DNS lookup at a time (max_dns_lookups = 1), each MX lookup taking an hour: the second
// domain's lookup starts when the first one's ends, and its message goes an hour later.
TEST_F(EngineTest, DnsWaitEndsWhenALookupSlotFrees) {
  TestMx& dest = mx();
  options_.mx_port = dest.port();
  options_.max_dns_lookups = 1;
  for (const char* domain : {"one.test", "two.test"}) {
    dns::Answer m;
    m.mx.push_back(dns::MxRecord{10, std::string("mx.") + domain});
    m.ttl = 300s;
    fake_.set(domain, dns::RecordType::kMx, m);
    dns::Answer a;
    a.values.emplace_back("127.0.0.1");
    a.ttl = 300s;
    fake_.set(std::string("mx.") + domain, dns::RecordType::kA, a);
    fake_.set(std::string("mx.") + domain, dns::RecordType::kAaaa, dns::Answer{});
  }
  SlowResolver slow(fake_, 1h);
  start(&slow);
  send("x@one.test");
  send("x@two.test");
  settle();
  EXPECT_EQ(slow.mx_started, 1) << "a second lookup started beside the first";
  EXPECT_EQ(dest.messages, 0);
  Clock::advance(1h);
  ASSERT_TRUE(run_until([&] { return dest.messages == 1; }, 60s));
  settle();
  EXPECT_EQ(slow.mx_started, 2) << "the second lookup did not start when the first ended";
  EXPECT_EQ(dest.messages, 1);
  Clock::advance(1h);
  ASSERT_TRUE(run_until([&] { return dest.messages == 2; }, 60s))
      << "the DNS wait did not end when the lookup slot freed";
}

// Recovery: the schedule rebuilt from the spool at start. A delivered recipient is never sent
// again, a queued one due now goes at once, one due in ten minutes (another domain: a job's
// recipients of one domain share a unit, due at the earliest of them) waits for the clock, and
// a job whose recipients are all final (a crash between the last update and the erase) leaves
// the spool without a connection.
TEST_F(EngineTest, RecoveryResumesEachRecipientFromItsState) {
  TestMx& a = mx();
  route("a.test", a);
  route("b.test", a);
  const std::int64_t now = now_ms();
  store::SpoolRecord open;
  open.job_id = new_job_id();
  open.account = "acct";
  open.sender = "s@sender.test";
  open.received_ms = now;
  open.message = "Subject: t\r\n\r\nhello\r\n";
  using store::RecipientStatus;
  open.recipients = {
      {"done@a.test", mail_id_of(open.job_id, 0, 0), RecipientStatus::kDelivered, 1, 0},
      {"now@a.test", mail_id_of(open.job_id, 0, 1), RecipientStatus::kQueued, 1, now},
      {"later@b.test", mail_id_of(open.job_id, 0, 2), RecipientStatus::kQueued, 1,
       now + std::int64_t{10} * 60 * 1000}};
  store::SpoolRecord finished = open;
  finished.job_id = new_job_id();
  for (auto& r : finished.recipients) {
    r.mail_id = mail_id_of(finished.job_id, 0, 0);
    r.status = RecipientStatus::kBounced;
  }
  put(open);
  put(finished);
  start(nullptr, true);

  ASSERT_TRUE(run_until([&] { return delivered("now@a.test"); }, 60s));
  settle();
  EXPECT_EQ(a.rcpts, std::vector<std::string>{"RCPT TO:<now@a.test>"});
  // The erase is a lazy write (visible after its group's sync).
  EXPECT_TRUE(run_until([&] { return !spool_->get(finished.job_id)->has_value(); }, 60s))
      << "a job with every recipient final stayed in the spool";
  Clock::advance(std::chrono::minutes(11));
  ASSERT_TRUE(run_until([&] { return delivered("later@b.test"); }, 60s))
      << "the recipient due later was not sent when its time came";
  EXPECT_EQ(a.rcpts, (std::vector<std::string>{"RCPT TO:<now@a.test>", "RCPT TO:<later@b.test>"}));
  EXPECT_FALSE(outcomes_.contains("done@a.test"));
}

// Cluster mode: jobs taken over from another node join the running engine; recipients already
// final there are not sent again, and a job with none left leaves the spool.
TEST_F(EngineTest, AdoptedJobsJoinTheRunningQueue) {
  TestMx& a = mx();
  route("a.test", a);
  start();
  const std::int64_t now = now_ms();
  using store::RecipientStatus;
  store::SpoolRecord open;
  open.job_id = new_job_id();
  open.account = "acct";
  open.received_ms = now - 60'000;
  open.message = "Subject: t\r\n\r\nhello\r\n";
  open.recipients = {
      {"sent@a.test", mail_id_of(open.job_id, 0, 0), RecipientStatus::kDelivered, 1, 0},
      {"left@a.test", mail_id_of(open.job_id, 0, 1), RecipientStatus::kQueued, 0, now}};
  store::SpoolRecord finished = open;
  finished.job_id = new_job_id();
  finished.recipients.resize(1);
  put(open);
  put(finished);
  engine_->adopt({open, finished});
  ASSERT_TRUE(run_until([&] { return delivered("left@a.test"); }, 60s));
  EXPECT_EQ(a.rcpts, std::vector<std::string>{"RCPT TO:<left@a.test>"});
  ASSERT_TRUE(run_until([&] { return !spool_->get(finished.job_id)->has_value(); }, 60s))
      << "a job adopted with every recipient final stayed in the spool";
  EXPECT_FALSE(outcomes_.contains("sent@a.test"));
}

// A job another node took over is dropped at its next attempt: nothing sent, no event, no
// spool write (the spool is the new owner's business).
TEST_F(EngineTest, AJobTakenOverIsDroppedWithoutAnEvent) {
  TestMx& a = mx();
  route("a.test", a);
  gate_->lease = false;  // hold it until it is taken
  start();
  send("gone@a.test");
  settle();
  ASSERT_EQ(engine_->queued_jobs(), 1U);
  const std::string job = take_over_the_job();
  ASSERT_FALSE(job.empty());
  const int writes = gate_->writes.load();
  gate_->lease = true;
  ASSERT_TRUE(run_until([&] { return engine_->queued_jobs() == 0; }, 60s));
  settle();
  EXPECT_TRUE(a.rcpts.empty());
  EXPECT_FALSE(outcomes_.contains("gone@a.test"));
  EXPECT_EQ(gate_->writes.load(), writes);
  EXPECT_TRUE(spool_->get(job)->has_value()) << "the engine erased a job it no longer owns";
}

// A job taken over while its units wait in ready queues (two domains: two units) stops
// counting against its account's backlog, which the SMTP listener's backpressure reads: before,
// the unit taken after the job was forgotten stayed counted for good.
TEST_F(EngineTest, AJobTakenOverLeavesNoBacklogBehind) {
  TestMx& a = mx();
  TestMx& b = mx();
  route("a.test", a);
  route("b.test", b);
  gate_->lease = false;
  start();
  send(std::vector<std::string>{"one@a.test", "two@b.test"});
  settle();
  ASSERT_FALSE(take_over_the_job().empty());
  gate_->lease = true;
  ASSERT_TRUE(run_until([&] { return engine_->queued_jobs() == 0; }, 60s));
  settle();
  EXPECT_TRUE(a.rcpts.empty() && b.rcpts.empty());
  EXPECT_EQ(engine_->ready_backlog("acct"), 0U);
  EXPECT_EQ(engine_->ready_backlog(), 0U);
}

// While the lease is not confirmed nothing is sent and no attempt is counted; once it is, the
// job goes out.
TEST_F(EngineTest, NothingIsSentWhileTheLeaseIsNotConfirmed) {
  TestMx& a = mx();
  route("a.test", a);
  gate_->lease = false;
  start();
  send("wait@a.test");
  Clock::advance(std::chrono::minutes(5));
  settle();
  EXPECT_TRUE(a.rcpts.empty());
  EXPECT_FALSE(outcomes_.contains("wait@a.test"));
  gate_->lease = true;
  ASSERT_TRUE(run_until([&] { return delivered("wait@a.test"); }, 60s));
  EXPECT_EQ(outcomes_["wait@a.test"].size(), 1U) << "a deferral was counted while waiting";
}

// A recipient answered 4xx is tried again when its retry time comes, and once the message is
// older than the retry policy's max_age, the next 4xx bounces it (soft) instead of deferring.
TEST_F(EngineTest, TemporaryFailuresAreRetriedUntilTheMessageExpires) {
  TestMx& a = mx();
  a.rcpt_reply = "451 4.2.1 try later\r\n";
  route("a.test", a);
  options_.retry.schedule = {std::chrono::minutes(1)};
  options_.retry.tail = std::chrono::minutes(1);
  options_.retry.max_age = std::chrono::minutes(3);
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 60s));
  EXPECT_EQ(a.rcpts.size(), 1U);
  Clock::advance(std::chrono::seconds(30));
  settle();
  EXPECT_EQ(a.rcpts.size(), 1U) << "retried before its time";
  Clock::advance(std::chrono::seconds(50));  // past 1 min + 20% jitter
  ASSERT_TRUE(run_until([&] { return outcomes_["x@a.test"].size() == 2; }, 60s));
  EXPECT_EQ(outcomes_["x@a.test"].back(), Outcome::Kind::kDeferred);
  EXPECT_EQ(a.rcpts.size(), 2U);
  Clock::advance(std::chrono::minutes(2));  // older than max_age at the next try
  ASSERT_TRUE(run_until([&] { return outcomes_["x@a.test"].size() == 3; }, 60s));
  EXPECT_EQ(outcomes_["x@a.test"].back(), Outcome::Kind::kBouncedSoft);
  EXPECT_EQ(a.rcpts.size(), 3U);
  Clock::advance(std::chrono::minutes(5));
  settle();
  EXPECT_EQ(a.rcpts.size(), 3U) << "tried again after it bounced";
}

// The engine's threads at once (the ThreadSanitizer case, make test-tsan): several threads put
// jobs to the spool (group commit), submit them and read the engine's counters, and one
// reconfigures the egress, while the engine's io_context runs on the test thread, the spool's
// writer completes updates and erases, and large messages are read back on the worker pool.
TEST_F(EngineTest, SubmitFromManyThreadsWhileDelivering) {
  TestMx& a = mx();
  route("a.test", a);
  start();
  constexpr int kThreads = 3;
  constexpr int kEach = 8;
  std::atomic<int> submitted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        store::SpoolRecord r;
        r.job_id = new_job_id();
        r.account = "acct";
        r.sender = "s@sender.test";
        r.received_ms = now_ms();
        const std::string rcpt = "t" + std::to_string(t) + "-" + std::to_string(i) + "@a.test";
        r.recipients.push_back(
            store::SpoolRecipient{rcpt, mail_id_of(r.job_id, 0, 0), {}, 0, now_ms()});
        // Every other message is large: it lives in a body segment, and (not handed over at
        // submit) is read back on the worker pool.
        r.message = "Subject: t\r\n\r\n";
        const std::size_t size = i % 2 == 0 ? store::RocksSpool::kBodyMin + 10 : 10;
        while (r.message.size() < size) {
          r.message += std::string(70, 'x') + "\r\n";
        }
        std::promise<Result<void>> put;
        spool_->put(r, [&put](Result<void> ok) { put.set_value(std::move(ok)); });
        if (!put.get_future().get()) {
          ++failures;
          continue;
        }
        if (i % 2 == 0) {
          r.message.clear();
        }
        engine_->submit(r);
        ++submitted;
        (void)engine_->ready_backlog();
        (void)engine_->ready_backlog("acct");
        (void)engine_->ready_queues();
        (void)engine_->queued_jobs();
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 3; ++i) {
      engine_->reconfigure(EgressSettings{options_.sources, options_.pools, options_.routes});
    }
  });
  const bool all = run_until(
      [&] {
        if (submitted.load() + failures.load() < kThreads * kEach) {
          return false;
        }
        for (int t = 0; t < kThreads; ++t) {
          for (int i = 0; i < kEach; ++i) {
            if (!delivered("t" + std::to_string(t) + "-" + std::to_string(i) + "@a.test")) {
              return false;
            }
          }
        }
        return true;
      },
      60s);
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_TRUE(all);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(a.messages, kThreads * kEach);
  // Every job is final: the engine forgets it, and the spool erases it.
  ASSERT_TRUE(run_until([&] { return engine_->queued_jobs() == 0; }, 60s));
}

}  // namespace
}  // namespace txmail::queue::engine_test
