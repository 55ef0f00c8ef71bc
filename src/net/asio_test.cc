#include "net/asio.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace txmail {
namespace {

// The loops are coroutine functions, as in the node (a lambda that is itself a coroutine would
// keep its captures in a closure that spawn_essential moves).
awaitable<void> flaky(int* runs) {
  if (++*runs == 1) {
    throw std::runtime_error("first run fails");
  }
  co_return;
}

awaitable<void> failing(int* runs) {
  ++*runs;
  throw std::runtime_error("always fails");
  co_return;
}

// An essential loop that dies of an exception is logged, counted and started again; one that
// returns is not; none is restarted while the node stops.
TEST(SpawnEssential, RestartsALoopThatThrew) {
  asio::io_context io;
  int runs = 0;
  const std::uint64_t caught = caught_failures();
  auto loop = [&runs] {
    return flaky(&runs);
  };
  spawn_essential(io.get_executor(), "a test loop", loop);
  io.run();  // ends when the second run returned and nothing is left to do
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(caught_failures(), caught + 1);
}

TEST(SpawnEssential, StopsWhenTheNodeStops) {
  asio::io_context io;
  int runs = 0;
  auto loop = [&runs] {
    return failing(&runs);
  };
  spawn_essential(io.get_executor(), "a test loop", loop, [] { return true; });
  io.run();
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace txmail
