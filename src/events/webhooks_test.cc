// The push notification dispatcher's threads at work together (the ThreadSanitizer case, make
// test-tsan): appenders write to the event log, the dispatcher's thread follows it and posts to
// two endpoints (one that answers 200 on loopback, one where nothing listens), and an API
// thread reads stats, endpoint states and dead letters and replays them, all at once. Hermetic:
// port 0 on loopback, temporary files, a retry schedule of milliseconds.
#include "events/webhooks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "events/sqlite_event_log.h"
#include "events/test_endpoint.h"
#include "net/asio.h"

namespace txmail::events {
namespace {

using namespace std::chrono_literals;
using test_support::closed_url;
using test_support::eventually;
using test_support::TestEndpoint;

TEST(WebhookDispatcher, AppendersDispatcherAndApiAtOnce) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("txmail-webhooks-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto log = SqliteEventLog::open((dir / "events.db").string(), SqliteEventLog::Mode::kReadWrite);
  ASSERT_TRUE(log) << log.error().detail;
  TestEndpoint receiver;
  const std::string up = receiver.url("/hook");
  const std::string down = closed_url();
  WebhookOptions options;
  options.allow_private_targets = true;
  options.retry_schedule = {1ms, 2ms};
  options.chunk = 25;  // many rounds
  options.batch_max = 3;
  options.breaker_failures = 3;
  options.poll = 5ms;
  options.timeout = 60s;  // a slow (sanitizer) build never times a request out
  auto dispatcher = WebhookDispatcher::open(
      WebhookDispatcher::Deps{
          .event_log = **log,
          .state_db = (dir / "webhooks.db").string(),
          .account_endpoint =
              [&](const std::string& account) {
                return std::optional<Endpoint>(Endpoint{account == "up" ? up : down, {}, "", ""});
              },
          .secret_of = [](const std::string&) { return std::string("secret"); },
          .seal = [](const std::string& plain, const std::string&) { return plain; },
          .open = [](const std::string& sealed, const std::string&) -> Result<std::string> {
            return sealed;
          },
          .resolver = nullptr},
      options);
  ASSERT_TRUE(dispatcher) << dispatcher.error().detail;
  WebhookDispatcher& d = **dispatcher;
  d.start();

  constexpr int kAppenders = 2;
  constexpr int kJobs = 12;
  constexpr int kEvents = 4;  // per job
  std::vector<std::thread> appenders;
  appenders.reserve(kAppenders);
  for (int a = 0; a < kAppenders; ++a) {
    appenders.emplace_back([&, a] {
      for (int j = 0; j < kJobs; ++j) {
        std::vector<Event> events;
        for (int i = 0; i < kEvents; ++i) {
          Event e = make_event(i + 1 < kEvents ? Kind::kDeferred : Kind::kDelivered);
          e.account = j % 2 == 0 ? "up" : "down";
          e.job_id = "job-" + std::to_string(a) + "-" + std::to_string(j);
          e.mail_id = e.job_id + "#0";
          events.push_back(std::move(e));
        }
        (*log)->append_all(std::move(events), [] {});
      }
    });
  }
  // The API's side: reads and replays while the dispatcher's thread works.
  std::atomic<bool> api_running{true};
  std::atomic<std::size_t> replayed{0};
  std::thread api([&] {
    while (api_running.load()) {
      (void)d.stats();
      (void)d.endpoint_status(up);
      (void)d.endpoint_status(down);
      auto dead = d.dead_letters("down", 100);
      ASSERT_TRUE(dead) << dead.error().detail;
      for (const auto& letter : *dead) {
        EXPECT_EQ(letter.url, down);
      }
      if (!dead->empty()) {
        auto n = d.replay("down");
        ASSERT_TRUE(n) << n.error().detail;
        replayed += *n;
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  for (auto& t : appenders) {
    t.join();
  }
  constexpr std::size_t kPerEndpoint = std::size_t{kAppenders} * kJobs / 2 * kEvents;
  EXPECT_TRUE(eventually([&] { return receiver.notifications() >= kPerEndpoint; }, 60s))
      << receiver.notifications();
  EXPECT_TRUE(eventually([&] { return replayed.load() > 0; }, 30s));
  api_running = false;
  api.join();
  // Every batch for the dead endpoint ends as a dead letter again, with all its notifications.
  std::size_t dead_notifications = 0;
  EXPECT_TRUE(eventually(
      [&] {
        auto dead = d.dead_letters("", 1000);
        dead_notifications = 0;
        for (const auto& letter : dead ? *dead : std::vector<DeadLetter>{}) {
          dead_notifications += letter.notifications;
        }
        return d.stats().retry_backlog == 0 && dead_notifications == kPerEndpoint;
      },
      60s))
      << dead_notifications;
  const WebhookStats stats = d.stats();
  EXPECT_EQ(stats.delivered, kPerEndpoint);
  EXPECT_EQ(receiver.notifications(), kPerEndpoint);
  EXPECT_EQ(receiver.unsigned_posts(), 0U);
  EXPECT_GT(stats.failures, 0U);
  EXPECT_EQ(stats.lag, 0U);
  d.stop();
  dispatcher->reset();
  (*log)->close();
  log->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace txmail::events
