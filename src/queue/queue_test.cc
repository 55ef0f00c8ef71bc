#include <gtest/gtest.h>

#include "queue/address_backoff.h"
#include "queue/fifo.h"
#include "queue/gcra.h"
#include "queue/inline_list.h"
#include "queue/retry_policy.h"
#include "queue/sandbox.h"
#include "queue/source_line.h"

namespace txmail::queue {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

TEST(InlineList, GrowsPastItsInlineElementAndKeepsOrder) {
  static_assert(sizeof(InlineList<std::uint32_t>) == 16);
  InlineList<std::unique_ptr<int>> list;  // move-only elements too
  EXPECT_TRUE(list.empty());
  for (int i = 0; i < 37; ++i) {
    list.push_back(std::make_unique<int>(i));
    ASSERT_EQ(list.size(), static_cast<std::uint32_t>(i + 1));
    for (int j = 0; j <= i; ++j) {
      ASSERT_EQ(*list[static_cast<std::size_t>(j)], j);
    }
  }
  int expected = 0;
  for (const auto& p : list) {
    EXPECT_EQ(*p, expected++);
  }
  InlineList<int> sized(5);
  for (std::size_t i = 0; i < 5; ++i) {
    sized[i] = static_cast<int>(i) * 10;
  }
  sized.push_back(50);
  EXPECT_EQ(sized.size(), 6U);
  EXPECT_EQ(sized[5], 50);
  EXPECT_EQ(sized[4], 40);
}

TEST(RetryPolicy, ScheduleThenTailWithJitter) {
  RetryPolicy p;
  EXPECT_EQ(p.delay(1, 0.5), minutes(1));
  EXPECT_EQ(p.delay(6, 0.5), minutes(40));
  EXPECT_EQ(p.delay(7, 0.5), minutes(60));
  EXPECT_EQ(p.delay(50, 0.5), minutes(60));
  EXPECT_EQ(p.delay(1, 0.0), milliseconds(48'000));  // -20%
  EXPECT_EQ(p.delay(1, 1.0), milliseconds(72'000));  // +20%
  EXPECT_FALSE(p.expired(0, 72LL * 3600 * 1000 - 1));
  EXPECT_TRUE(p.expired(0, 72LL * 3600 * 1000));
}

TEST(Gcra, HoldsTheRate) {
  Gcra g(10.0, 1.0);  // 10 per second, no burst
  auto now = Gcra::Clock::time_point{} + std::chrono::hours(1);
  int sent = 0;
  // Simulate one second of a sender that goes as soon as it is allowed.
  const auto end = now + std::chrono::seconds(1);
  while (now < end) {
    const auto wait = g.reserve(now);
    now += wait;
    if (now < end) {
      ++sent;
    }
  }
  EXPECT_GE(sent, 10);
  EXPECT_LE(sent, 11);
}

TEST(Gcra, BurstThenSteady) {
  Gcra g(1.0, 3.0);
  const auto now = Gcra::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(g.reserve(now).count(), 0);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(g.reserve(now)), milliseconds(1000));
  EXPECT_FALSE(Gcra().limited());
}

// Issue deliver-2: with more destinations waiting than the source has slots, every freed slot
// goes to the next destination in line, in turn; a destination that gets a slot and wants
// more goes to the back. Before the fix a freed slot went back only to its own destination.
TEST(SourceLine, FreedSlotsGoToWaitersInTurn) {
  SourceLine<int> line(2, 2);
  std::vector<int> order;
  // Destinations 1 and 2 take both slots; 3, 4 and 5 wait.
  for (int opened = 0; opened < 2; ++opened) {
    ASSERT_TRUE(line.can_open());
    line.open();
    line.opened();
  }
  EXPECT_TRUE(line.full());
  for (int d : {3, 4, 5}) {
    EXPECT_FALSE(line.can_open());
    line.join(d);
  }
  EXPECT_FALSE(line.next().has_value()) << "no slot is free: nobody may be taken";
  // Each close frees one slot, taken by the first waiter; 3 wants another connection and
  // joins again at the back.
  for (int round = 0; round < 4; ++round) {
    line.closed();
    auto w = line.next();
    ASSERT_TRUE(w.has_value()) << "a freed slot found nobody, round " << round;
    order.push_back(*w);
    line.open();
    line.opened();
    if (*w == 3 && round == 0) {
      line.join(3);
    }
    EXPECT_FALSE(line.next().has_value());
  }
  EXPECT_EQ(order, (std::vector<int>{3, 4, 5, 3}));
  EXPECT_FALSE(line.has_waiters());
}

TEST(SourceLine, OpeningCapKeepsSlotsForDestinationsThatAnswer) {
  // 4 slots, at most 2 opening: two destinations that never greet hold 2, never all 4.
  SourceLine<int> line(4, 2);
  line.open();
  line.open();
  EXPECT_EQ(line.opening(), 2u);
  EXPECT_FALSE(line.can_open()) << "a third opening connection";
  EXPECT_FALSE(line.full());
  line.join(7);
  EXPECT_FALSE(line.next().has_value());
  // One opening ends (greeted, or timed out): the waiter is taken at once.
  line.opened();
  auto w = line.next();
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, 7);
  line.open();
  line.opened();
  line.opened();
  EXPECT_EQ(line.connections(), 3u);
  EXPECT_EQ(line.opening(), 0u);
  line.forget(7);
  EXPECT_EQ(line.waiting(), 0u);
}

TEST(Fifo, KeepsOrderCompactsAndFreesWhenDrained) {
  Fifo<int> q;
  EXPECT_TRUE(q.empty());
  int next_out = 0;
  for (int i = 0; i < 1000; ++i) {
    q.push_back(i);
    if (i % 3 == 0) {
      EXPECT_EQ(q.front(), next_out);
      q.pop_front();
      ++next_out;
    }
  }
  EXPECT_EQ(q.size(), static_cast<std::size_t>(1000 - next_out));
  while (!q.empty()) {
    EXPECT_EQ(q.front(), next_out++);
    q.pop_front();
  }
  EXPECT_EQ(next_out, 1000);
  q.push_back(1);
  q.push_back(2);
  std::vector<int> drained;
  q.drain([&](int v) { drained.push_back(v); });
  EXPECT_EQ(drained, (std::vector<int>{1, 2}));
  EXPECT_TRUE(q.empty());
}

// One address serving many destinations: after it times out it is skipped (with the reason)
// for the retry delay of its consecutive failures, then tried again; a success clears it.
TEST(AddressBackoff, SkipsAFailedAddressUntilItsBackoffEnds) {
  std::int64_t now = 1'000'000;
  RetryPolicy retry;
  retry.schedule = {milliseconds(60'000), milliseconds(120'000)};
  AddressBackoff health(retry, [&] { return now; });
  const smtp::Peer peer{"mx.a.test", "192.0.2.1", 25};
  const smtp::Peer other{"mx.b.test", "192.0.2.2", 25};
  EXPECT_FALSE(health.backed_off(peer).has_value());
  health.failed(peer, "read: timed out");
  ASSERT_TRUE(health.backed_off(peer).has_value());
  EXPECT_EQ(*health.backed_off(peer), "read: timed out");
  EXPECT_FALSE(health.backed_off(other).has_value()) << "another address is not affected";
  EXPECT_FALSE(health.backed_off(smtp::Peer{"mx.a.test", "192.0.2.1", 2525}).has_value())
      << "another port of the same host is another service";
  now += 59'000;  // the first failure's delay is 60 s, jitter centred
  EXPECT_TRUE(health.backed_off(peer).has_value());
  now += 2'000;
  EXPECT_FALSE(health.backed_off(peer).has_value()) << "the back-off ended: try it again";
  health.failed(peer, "connect: Connection refused");  // second failure in a row: 120 s
  now += 119'000;
  EXPECT_TRUE(health.backed_off(peer).has_value());
  health.sweep();
  EXPECT_EQ(health.size(), 1u) << "swept while still backed off";
  now += 2'000;
  health.sweep();
  EXPECT_EQ(health.size(), 0u);
  health.failed(peer, "x");
  health.succeeded(peer);
  EXPECT_FALSE(health.backed_off(peer).has_value());
}

TEST(Sandbox, SimulatorAddressesInAnyCase) {
  EXPECT_EQ(simulated("bounce@simulator.txmail.invalid"), Simulated::kBounce);
  EXPECT_EQ(simulated("Defer@SIMULATOR.txmail.invalid"), Simulated::kDefer);
  EXPECT_EQ(simulated("suppressed@simulator.txmail.invalid"), Simulated::kSuppressed);
  EXPECT_EQ(simulated("complaint@simulator.txmail.invalid"), Simulated::kComplaint);
  EXPECT_EQ(simulated("someone@simulator.txmail.invalid"), Simulated::kNone);
  EXPECT_EQ(simulated("bounce@example.org"), Simulated::kNone);
  EXPECT_EQ(simulated("bounce@sub.simulator.txmail.invalid"), Simulated::kNone);
  EXPECT_EQ(simulated("no-at-sign"), Simulated::kNone);
}

TEST(Sandbox, AnswersAsTheReplyTableJudgesThem) {
  const auto delivered = sandbox_answer(Simulated::kNone, 0);
  EXPECT_EQ(delivered.verdict.decision, smtp::Decision::kDelivered);
  EXPECT_EQ(delivered.detail, "250 2.0.0 Ok: captured in the sandbox, not sent");
  // A complaint comes after the delivery (app/serve.cc): the answer is a delivery.
  EXPECT_EQ(sandbox_answer(Simulated::kComplaint, 0).verdict.decision, smtp::Decision::kDelivered);
  const auto bounced = sandbox_answer(Simulated::kBounce, 0);
  EXPECT_EQ(bounced.verdict.decision, smtp::Decision::kBounced);
  EXPECT_EQ(bounced.verdict.scope, Scope::kRecipient);
  EXPECT_EQ(bounced.verdict.suppression, smtp::SuppressionClass::kNone);
  EXPECT_EQ(bounced.reply->code, 550);
  const auto first = sandbox_answer(Simulated::kDefer, 0);
  EXPECT_EQ(first.verdict.decision, smtp::Decision::kDeferred);
  EXPECT_EQ(first.verdict.scope, Scope::kRecipient);
  EXPECT_EQ(sandbox_answer(Simulated::kDefer, 1).verdict.decision, smtp::Decision::kDelivered);
}

}  // namespace
}  // namespace txmail::queue
