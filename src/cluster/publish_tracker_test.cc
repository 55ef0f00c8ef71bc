#include "cluster/publish_tracker.h"

#include <gtest/gtest.h>

namespace txmail::cluster {
namespace {

using std::chrono::milliseconds;
using Time = PublishTracker::Time;

PublishTracker::Part part(const std::string& id, std::size_t bytes = 10) {
  return {.subject = "s." + id, .msg_id = id, .payload = std::string(bytes, 'x'), .headers = {}};
}

struct Outcome {
  bool called = false;
  Result<std::vector<std::uint64_t>> result = std::vector<std::uint64_t>{};
};

PublishTracker::Done record(Outcome& o) {
  return [&o](Result<std::vector<std::uint64_t>> r) {
    o.called = true;
    o.result = std::move(r);
  };
}

void run_completed(PublishTracker& t) {
  for (auto& [done, result] : t.take_completed()) {
    done(std::move(result));
  }
}

std::vector<std::string> ids(const std::vector<PublishTracker::PartPtr>& parts) {
  std::vector<std::string> out;
  out.reserve(parts.size());
  for (const auto& p : parts) {
    out.push_back(p->msg_id);
  }
  return out;
}

TEST(PublishTracker, AGroupSucceedsWithTheSequenceOfEveryPartInOrder) {
  PublishTracker t;
  const Time now{};
  Outcome o;
  ASSERT_TRUE(t.add({part("c0"), part("c1"), part("m")}, now + milliseconds(1000), record(o)));
  EXPECT_EQ(ids(t.due(now)), (std::vector<std::string>{"c0", "c1", "m"}));
  EXPECT_TRUE(t.due(now).empty()) << "parts in flight are not sent twice";
  EXPECT_EQ(t.bytes(), 30U);
  t.on_ack("m", 9);
  t.on_ack("c0", 7);
  run_completed(t);
  EXPECT_FALSE(o.called);
  t.on_ack("c1", 8);
  run_completed(t);
  ASSERT_TRUE(o.called);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(*o.result, (std::vector<std::uint64_t>{7, 8, 9}));
  EXPECT_EQ(t.groups(), 0U);
  EXPECT_EQ(t.bytes(), 0U);
  EXPECT_FALSE(t.next_wake().has_value());
}

TEST(PublishTracker, ATransientErrorSendsTheSameIdAgainAfterADoublingBackoff) {
  PublishTracker t(PublishTracker::Backoff{.first = milliseconds(200), .max = milliseconds(500)});
  const Time start{};
  Outcome o;
  ASSERT_TRUE(t.add({part("m")}, start + milliseconds(10'000), record(o)));
  ASSERT_EQ(t.due(start).size(), 1U);
  Time now = start;
  const milliseconds expected[] = {milliseconds(200), milliseconds(400), milliseconds(500),
                                   milliseconds(500)};
  for (const auto wait : expected) {
    t.on_error("m", PublishTracker::Failure::kTransient, "no responders", now);
    EXPECT_TRUE(t.due(now + wait - milliseconds(1)).empty());
    ASSERT_EQ(t.next_wake(), now + wait);
    now += wait;
    EXPECT_EQ(ids(t.due(now)), std::vector<std::string>{"m"});
  }
  EXPECT_EQ(t.resends(), 4U);
  t.on_ack("m", 42);
  run_completed(t);
  ASSERT_TRUE(o.called && o.result);
  EXPECT_EQ(*o.result, std::vector<std::uint64_t>{42});
}

TEST(PublishTracker, APermanentErrorFailsTheWholeGroupAndLaterAcksAreIgnored) {
  PublishTracker t;
  const Time now{};
  Outcome o;
  ASSERT_TRUE(t.add({part("c0"), part("m")}, now + milliseconds(1000), record(o)));
  t.due(now);
  t.on_error("c0", PublishTracker::Failure::kPermanent, "maximum messages exceeded", now);
  t.on_ack("m", 5);
  run_completed(t);
  ASSERT_TRUE(o.called);
  ASSERT_FALSE(o.result);
  EXPECT_EQ(o.result.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(o.result.error().detail.find("maximum messages exceeded"), std::string::npos);
  EXPECT_EQ(t.groups(), 0U);
  EXPECT_EQ(t.bytes(), 0U);
}

TEST(PublishTracker, AGroupPastItsDeadlineFailsWithTheLastErrorSeen) {
  PublishTracker t;
  const Time now{};
  Outcome late;
  Outcome in_time;
  ASSERT_TRUE(t.add({part("a")}, now + milliseconds(100), record(late)));
  ASSERT_TRUE(t.add({part("b")}, now + milliseconds(5000), record(in_time)));
  t.due(now);
  t.on_error("a", PublishTracker::Failure::kTransient, "timeout", now);
  t.expire(now + milliseconds(99));
  run_completed(t);
  EXPECT_FALSE(late.called);
  t.expire(now + milliseconds(100));
  run_completed(t);
  ASSERT_TRUE(late.called);
  ASSERT_FALSE(late.result);
  EXPECT_NE(late.result.error().detail.find("timeout"), std::string::npos);
  EXPECT_FALSE(in_time.called);
  EXPECT_TRUE(t.due(now + milliseconds(1000)).empty()) << "an expired part is not resent";
  EXPECT_EQ(t.groups(), 1U);
}

TEST(PublishTracker, AnIdAlreadyPendingIsRefusedAndNothingIsAdded) {
  PublishTracker t;
  const Time now{};
  Outcome first;
  Outcome second;
  ASSERT_TRUE(t.add({part("f1")}, now + milliseconds(100), record(first)));
  auto again = t.add({part("x"), part("f1")}, now + milliseconds(100), record(second));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(ids(t.due(now)), std::vector<std::string>{"f1"});
  EXPECT_EQ(t.groups(), 1U);
}

TEST(PublishTracker, UnknownIdsAreIgnored) {
  PublishTracker t;
  t.on_ack("nothing", 1);
  t.on_error("nothing", PublishTracker::Failure::kPermanent, "x", Time{});
  EXPECT_TRUE(t.take_completed().empty());
}

}  // namespace
}  // namespace txmail::cluster
