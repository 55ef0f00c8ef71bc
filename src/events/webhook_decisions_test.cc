// The push notification dispatcher's decisions (issue quality-1): how the reader groups events
// into batches (read_round, against an in-memory log), and what the dispatcher does with each
// answer: 2xx delivered, 503 and network errors retried on the schedule and then kept as dead
// letters, 301 and 404 final after one try, and the circuit breaker pausing an endpoint that
// keeps failing and resuming it when it answers. Hermetic: an in-test HTTP endpoint on loopback
// port 0 whose answers each test scripts, temporary files, a retry schedule of milliseconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "events/test_endpoint.h"
#include "events/webhook_batches.h"
#include "events/webhooks.h"
#include "net/asio.h"

namespace txmail::events {
namespace {

using namespace std::chrono_literals;
using test_support::eventually;
using test_support::TestEndpoint;

// The event log as the dispatcher reads it, in memory (a fake: the SQLite log has tests of its
// own). Any thread may append while the dispatcher reads.
class MemoryLog : public EventLog {
 public:
  void add(Event e, JobInfo job = {}) {
    std::lock_guard lock(mutex_);
    rows_.push_back(
        LoggedEvent{static_cast<std::int64_t>(rows_.size()) + 1, std::move(e), std::move(job)});
  }

  void append(Event event) override { add(std::move(event)); }

  void append_all(std::vector<Event> events, std::function<void()> stored) override {
    for (auto& e : events) {
      add(std::move(e));
    }
    stored();
  }

  void append_job(JobInfo) override {}

  Result<std::vector<Event>> for_job(const std::string&) override { return std::vector<Event>{}; }

  Result<std::vector<Event>> for_mail(const std::string&) override { return std::vector<Event>{}; }

  Result<std::vector<LoggedEvent>> read_after(std::int64_t after, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    std::vector<LoggedEvent> out;
    for (const auto& r : rows_) {
      if (r.seq > after && out.size() < limit) {
        out.push_back(r);
      }
    }
    return out;
  }

  Result<std::int64_t> last_seq() override {
    std::lock_guard lock(mutex_);
    return static_cast<std::int64_t>(rows_.size());
  }

  void close() override {}

 private:
  std::mutex mutex_;
  std::vector<LoggedEvent> rows_;
};

Event event_of(const std::string& account, const std::string& job, Kind kind = Kind::kDelivered) {
  Event e = make_event(kind);
  e.account = account;
  e.job_id = job;
  e.mail_id = job + "#0";
  return e;
}

WebhookDispatcher::Deps deps_for(EventLog& log, const std::string& state_db,
                                 std::function<std::optional<Endpoint>(const std::string&)> of) {
  return WebhookDispatcher::Deps{
      .event_log = log,
      .state_db = state_db,
      .account_endpoint = std::move(of),
      .secret_of = [](const std::string&) { return std::string("secret"); },
      .seal = [](const std::string& plain, const std::string&) { return plain; },
      .open = [](const std::string& sealed, const std::string&) -> Result<std::string> {
        return sealed;
      },
      .resolver = nullptr};
}

class DispatcherDecisions : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-decisions-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    if (dispatcher_) {
      dispatcher_->stop();
      dispatcher_.reset();
    }
    std::filesystem::remove_all(dir_);
  }

  // The account's endpoint is the path named after it.
  void start(WebhookOptions options) {
    options.allow_private_targets = true;
    options.poll = 5ms;
    options.timeout = 60s;  // a slow (sanitizer) build never times a request out
    auto d = WebhookDispatcher::open(
        deps_for(
            log_, (dir_ / "webhooks.db").string(),
            [this](const std::string& account) {
              return std::optional<Endpoint>(Endpoint{endpoint_.url("/" + account), {}, "", ""});
            }),
        options);
    ASSERT_TRUE(d) << d.error().detail;
    dispatcher_ = std::move(*d);
    dispatcher_->start();
  }

  bool settled() {
    const WebhookStats s = dispatcher_->stats();
    return s.lag == 0 && s.retry_backlog == 0;
  }

  std::filesystem::path dir_;
  MemoryLog log_;
  TestEndpoint endpoint_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
};

TEST(WebhookReadRound, GroupsByEndpointAndJobUpToTheBatchSize) {
  MemoryLog log;
  const Endpoint own{"https://hooks.test/own", {}, "", ""};
  JobInfo with_own;
  with_own.job_id = "job-a";
  with_own.account = "acme";
  with_own.endpoint_sealed = to_json(own);
  // Interleaved: job-a (its own endpoint) 7 events, job-b (the account's) 2, job-c (an
  // account with no endpoint) 2.
  for (int i = 0; i < 7; ++i) {
    log.add(event_of("acme", "job-a", Kind::kDeferred), with_own);
    if (i < 2) {
      log.add(event_of("acme", "job-b"));
      log.add(event_of("silent", "job-c"));
    }
  }
  const auto deps = deps_for(log, "", [](const std::string& account) -> std::optional<Endpoint> {
    if (account == "acme") {
      return Endpoint{"https://hooks.test/acme", {}, "", ""};
    }
    return std::nullopt;
  });

  auto round = webhook::read_round(log, 0, 100, 3, deps);
  ASSERT_TRUE(round) << round.error().detail;
  EXPECT_EQ(round->last_seq, 11);
  std::vector<std::tuple<std::string, std::string, std::size_t>> got;
  for (const auto& b : round->batches) {
    got.emplace_back(b.job_id, b.endpoint.url, b.notifications);
    const auto body = boost::json::parse(b.body);
    EXPECT_EQ(body.at("notifications").as_array().size(), b.notifications);
    EXPECT_EQ(body.at("meta").at("jobId").as_string(), b.job_id);
  }
  const std::vector<std::tuple<std::string, std::string, std::size_t>> want = {
      {"job-a", own.url, 3},
      {"job-b", "https://hooks.test/acme", 2},
      {"job-a", own.url, 3},
      {"job-a", own.url, 1}};
  EXPECT_EQ(got, want);

  // A round reads at most `chunk` events; the next one starts after it.
  auto first = webhook::read_round(log, 0, 4, 3, deps);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->last_seq, 4);
  auto rest = webhook::read_round(log, first->last_seq, 100, 3, deps);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->last_seq, 11);
  std::size_t notifications = 0;
  for (const auto& r : {*first, *rest}) {
    for (const auto& b : r.batches) {
      notifications += b.notifications;
    }
  }
  EXPECT_EQ(notifications, 9U);  // job-c's two have no listener

  auto none = webhook::read_round(log, 11, 100, 3, deps);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->last_seq, 0);
  EXPECT_TRUE(none->batches.empty());
}

// Cluster mode: another node's events copied into this log are that node's to notify; the
// round passes over them (and its position with them).
TEST(WebhookReadRound, LeavesOtherNodesEventsToThem) {
  MemoryLog log;
  log.add(event_of("acme", "job-here"));
  Event copied = event_of("acme", "job-there");
  copied.origin = "node-b";
  log.add(copied);
  log.add(event_of("acme", "job-here", Kind::kDeferred));
  const auto deps = deps_for(log, "", [](const std::string&) -> std::optional<Endpoint> {
    return Endpoint{"https://hooks.test/acme", {}, "", ""};
  });
  auto round = webhook::read_round(log, 0, 100, 10, deps);
  ASSERT_TRUE(round) << round.error().detail;
  EXPECT_EQ(round->last_seq, 3);
  ASSERT_EQ(round->batches.size(), 1U);
  EXPECT_EQ(round->batches[0].job_id, "job-here");
  EXPECT_EQ(round->batches[0].notifications, 2U);
}

TEST_F(DispatcherDecisions, EachAnswerDecidesRetryRefusalOrDeadLetter) {
  endpoint_.script("/flaky", {503, 200});  // retried once, then delivered
  endpoint_.script("/gone", {404});        // final: refused after one try
  endpoint_.script("/moved", {301});       // final: refused after one try
  endpoint_.script("/down", {503});        // every try fails: a dead letter after three
  WebhookOptions options;
  options.retry_schedule = {5ms, 5ms};
  options.breaker_failures = 100;
  start(options);
  for (const char* account : {"flaky", "gone", "moved", "down"}) {
    log_.add(event_of(account, std::string("job-") + account));
  }

  ASSERT_TRUE(eventually([&] { return settled() && dispatcher_->stats().dead == 1; }, 30s));
  EXPECT_EQ(endpoint_.requests("/flaky"), 2U);
  EXPECT_EQ(endpoint_.requests("/gone"), 1U);
  EXPECT_EQ(endpoint_.requests("/moved"), 1U);
  EXPECT_EQ(endpoint_.requests("/down"), 3U);
  const WebhookStats s = dispatcher_->stats();
  EXPECT_EQ(s.posts, 1U);
  EXPECT_EQ(s.delivered, 1U);
  EXPECT_EQ(s.refused, 2U);
  EXPECT_EQ(s.failures, 4U);  // /flaky once, /down three times
  EXPECT_EQ(s.dead_letters, 1U);
  auto dead = dispatcher_->dead_letters("", 10);
  ASSERT_TRUE(dead) << dead.error().detail;
  ASSERT_EQ(dead->size(), 1U);
  EXPECT_EQ((*dead)[0].job_id, "job-down");
  EXPECT_EQ((*dead)[0].attempts, 3);
  EXPECT_EQ((*dead)[0].last_error, "HTTP 503");

  // Replayed once the endpoint answers: delivered, and no dead letter is left.
  endpoint_.script("/down", {200});
  auto replayed = dispatcher_->replay("down");
  ASSERT_TRUE(replayed) << replayed.error().detail;
  EXPECT_EQ(*replayed, 1U);
  ASSERT_TRUE(eventually([&] { return settled() && dispatcher_->stats().posts == 2; }, 30s));
  EXPECT_EQ(endpoint_.requests("/down"), 4U);
  EXPECT_EQ(dispatcher_->stats().dead_letters, 0U);
}

TEST_F(DispatcherDecisions, BreakerPausesAFailingEndpointAndResumesIt) {
  endpoint_.script("/shaky", {503});
  WebhookOptions options;
  // A pause of 5 s (at least 3.75 with jitter): the probe does not come while the test looks,
  // even when a commit of the outbox stalls the dispatcher's answers for a second or two.
  options.retry_schedule = {5s, 5s, 5s, 5s, 5s, 5s};
  options.breaker_failures = 2;
  options.per_endpoint = 1;  // one request at a time: the failures come in a known order
  start(options);
  for (int i = 0; i < 4; ++i) {
    log_.add(event_of("shaky", "job-" + std::to_string(i)));
  }

  ASSERT_TRUE(eventually(
      [&] { return dispatcher_->endpoint_status(endpoint_.url("/shaky")).state == "paused"; },
      10s));
  const EndpointStatus paused = dispatcher_->endpoint_status(endpoint_.url("/shaky"));
  EXPECT_GE(paused.consecutive_failures, 2U);
  EXPECT_EQ(paused.last_error, "HTTP 503");
  EXPECT_EQ(dispatcher_->stats().breaker_trips, 1U);
  EXPECT_EQ(dispatcher_->stats().endpoints_paused, 1U);
  // Paused: no request until the pause ends (the count stays where the breaker opened it).
  const std::size_t at_pause = endpoint_.requests("/shaky");
  EXPECT_EQ(at_pause, 2U);

  // It answers again: the probe succeeds, the endpoint is active and everything arrives.
  endpoint_.script("/shaky", {200});
  ASSERT_TRUE(eventually([&] { return settled() && dispatcher_->stats().posts == 4; }, 30s))
      << "posts " << dispatcher_->stats().posts << ", backlog "
      << dispatcher_->stats().retry_backlog << ", lag " << dispatcher_->stats().lag << ", requests "
      << endpoint_.requests("/shaky");
  const EndpointStatus resumed = dispatcher_->endpoint_status(endpoint_.url("/shaky"));
  EXPECT_EQ(resumed.state, "active");
  EXPECT_EQ(resumed.consecutive_failures, 0U);
  EXPECT_EQ(dispatcher_->stats().endpoints_paused, 0U);
  EXPECT_EQ(dispatcher_->stats().dead, 0U);
}

}  // namespace
}  // namespace txmail::events
