#include "cluster/liveness.h"

#include <gtest/gtest.h>

namespace txmail::cluster {
namespace {

using std::chrono::seconds;
using Time = LivenessTable::Time;

constexpr auto kTimeout = seconds(10);

TEST(Liveness, ANodeIsDeadOnceItsRevisionStopsChangingForTheTimeout) {
  const Time t0{};
  LivenessTable t(t0);
  t.own_beat(true, t0);
  t.observe("b", 5, t0);
  t.observe("b", 6, t0 + seconds(4));
  t.observe("b", 6, t0 + seconds(8));  // the same revision again (a snapshot): no news
  EXPECT_FALSE(t.dead("b", t0 + seconds(14), kTimeout));
  EXPECT_TRUE(t.dead("b", t0 + seconds(15), kTimeout));
  EXPECT_EQ(t.alive(t0 + seconds(14), kTimeout), std::vector<std::string>{"b"});
  EXPECT_TRUE(t.alive(t0 + seconds(15), kTimeout).empty());
  t.observe("b", 7, t0 + seconds(20));
  EXPECT_FALSE(t.dead("b", t0 + seconds(21), kTimeout)) << "a beat brings it back";
}

TEST(Liveness, NobodyIsDeadWhileThisNodesOwnBeatsFail) {
  const Time t0{};
  LivenessTable t(t0);
  t.observe("b", 1, t0);
  EXPECT_FALSE(t.dead("b", t0 + seconds(60), kTimeout)) << "no own beat stored yet";
  t.own_beat(true, t0);
  t.own_beat(false, t0 + seconds(5));  // the region stops answering this node
  EXPECT_FALSE(t.dead("b", t0 + seconds(30), kTimeout));
  t.own_beat(true, t0 + seconds(30));  // it answers again: b gets a full timeout from now
  t.own_beat(true, t0 + seconds(35));
  EXPECT_FALSE(t.dead("b", t0 + seconds(39), kTimeout));
  EXPECT_TRUE(t.dead("b", t0 + seconds(41), kTimeout));
}

TEST(Liveness, ANodeNeverSeenCountsFromTheStartOfWatching) {
  const Time t0{};
  LivenessTable t(t0 + seconds(100));
  t.own_beat(true, t0 + seconds(100));
  EXPECT_FALSE(t.dead("ghost", t0 + seconds(109), kTimeout));
  EXPECT_TRUE(t.dead("ghost", t0 + seconds(111), kTimeout));
}

TEST(Liveness, AJumpOfThisNodesClockAfterAPauseJudgesNobodyAtOnce) {
  // SIGSTOP: this node's steady clock runs on while it sleeps; when it wakes, its own beats
  // have not been stored for as long, so it must beat again before judging anybody.
  const Time t0{};
  LivenessTable t(t0);
  t.own_beat(true, t0);
  t.observe("b", 1, t0);
  t.own_beat(false, t0 + seconds(60));  // the first beat after waking fails or is late
  EXPECT_FALSE(t.dead("b", t0 + seconds(60), kTimeout));
}

TEST(Liveness, TakeoverOrderPrefersTheDeadNodesSiteAndSpreadsByName) {
  const std::vector<std::pair<std::string, std::string>> live = {
      {"b1", "b"}, {"a2", "a"}, {"b2", "b"}, {"a3", "a"}, {"a1", "a"}};
  auto order = takeover_order("a1", "a", live);
  ASSERT_EQ(order.size(), 4U) << "the dead node itself is never a candidate";
  EXPECT_EQ(order[0].front(), 'a');
  EXPECT_EQ(order[1].front(), 'a');
  EXPECT_EQ(order[2].front(), 'b');
  EXPECT_EQ(order[3].front(), 'b');
  EXPECT_EQ(order, takeover_order("a1", "a", {live.rbegin(), live.rend()}))
      << "every node computes the same order";
  bool differs = false;
  for (const std::string dead : {"x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"}) {
    differs = differs || takeover_order(dead, "c", live) != takeover_order("x0", "c", live);
  }
  EXPECT_TRUE(differs) << "every dead node goes to the same first candidate";
}

}  // namespace
}  // namespace txmail::cluster
