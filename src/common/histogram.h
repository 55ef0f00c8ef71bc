// A lock-free latency histogram: log-linear buckets (8 per power of two, so any percentile is
// within about 9% of the truth), safe to record into from every thread at once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace txmail {

class Histogram {
 public:
  void record(std::chrono::nanoseconds d);
  std::uint64_t count() const;
  // The value below which `q` (0..1) of the recorded values fall, in microseconds.
  double percentile_us(double q) const;
  // How many values were at most `seconds` (to within a bucket: about 9%), and their sum, for
  // a Prometheus histogram.
  std::uint64_t count_at_most(double seconds) const;
  double sum_seconds() const;

 private:
  static constexpr int kSub = 8;
  static constexpr int kBuckets = 64 * kSub;
  static int bucket(std::uint64_t ns);
  static double bucket_upper_us(int b);

  std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace txmail
