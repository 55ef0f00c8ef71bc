// When to try a deferred recipient again, and when to give up (issue core-2, item 3): a fixed
// schedule of waits (1, 2, 5, 10, 20, 40 minutes by default), then every `tail`, each with
// +-20% jitter so retries of many recipients spread out, until the message is `max_age` old;
// then the recipient bounces "all attempts failed".
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace txmail::queue {

struct RetryPolicy {
  using Duration = std::chrono::milliseconds;
  std::vector<Duration> schedule = {std::chrono::minutes(1),  std::chrono::minutes(2),
                                    std::chrono::minutes(5),  std::chrono::minutes(10),
                                    std::chrono::minutes(20), std::chrono::minutes(40)};
  Duration tail = std::chrono::hours(1);
  Duration max_age = std::chrono::hours(72);
  double jitter = 0.2;

  // The wait after the `attempts`-th failed attempt (1 = the first); `unit` in [0, 1).
  Duration delay(std::uint32_t attempts, double unit) const;

  bool expired(std::int64_t received_ms, std::int64_t now_ms) const {
    return now_ms - received_ms >= max_age.count();
  }
};

}  // namespace txmail::queue
