// Durations and sizes as operators write them in config: "250ms", "30s", "5m", "72h", "1d";
// "512", "10KB"/"10KiB", "20MB"/"20MiB" (both spellings mean powers of 1024, as mail
// servers have always meant them).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace txmail {

Result<std::chrono::milliseconds> parse_duration(std::string_view s);
Result<std::uint64_t> parse_size(std::string_view s);

// Wall-clock milliseconds since the epoch (event times, next-attempt times, key lifecycle);
// moved with Clock in unit tests.
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch() + Clock::offset())
      .count();
}

// "2026-11-28T05:58:43.487Z" (RFC 3339, UTC, milliseconds), as the API shows times.
std::string iso8601_ms(std::int64_t unix_ms);

}  // namespace txmail
