#include "common/histogram.h"

#include <bit>
#include <cmath>

namespace txmail {

int Histogram::bucket(std::uint64_t ns) {
  if (ns < kSub) {
    return static_cast<int>(ns);
  }
  const int msb = 63 - std::countl_zero(ns);  // >= 3
  const int sub = static_cast<int>((ns >> (msb - 3)) & (kSub - 1));
  return (msb - 2) * kSub + sub;
}

double Histogram::bucket_upper_us(int b) {
  if (b < kSub) {
    return (b + 1) / 1000.0;
  }
  const int msb = b / kSub + 2;
  const int sub = b % kSub;
  const double lower = std::ldexp(1.0, msb) * (1.0 + sub / static_cast<double>(kSub));
  return (lower + std::ldexp(1.0, msb - 3)) / 1000.0;
}

void Histogram::record(std::chrono::nanoseconds d) {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0));
  counts_[static_cast<std::size_t>(bucket(ns))].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

std::uint64_t Histogram::count_at_most(double seconds) const {
  const double limit_us = seconds * 1e6;
  std::uint64_t n = 0;
  for (int b = 0; b < kBuckets && bucket_upper_us(b) <= limit_us * 1.0000001; ++b) {
    n += counts_[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
  }
  return n;
}

double Histogram::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

std::uint64_t Histogram::count() const {
  std::uint64_t n = 0;
  for (const auto& c : counts_) {
    n += c.load(std::memory_order_relaxed);
  }
  return n;
}

double Histogram::percentile_us(double q) const {
  const std::uint64_t total = count();
  if (total == 0) {
    return 0;
  }
  const auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
    if (seen >= target && seen > 0) {
      return bucket_upper_us(b);
    }
  }
  return bucket_upper_us(kBuckets - 1);
}

}  // namespace txmail
