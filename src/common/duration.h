// Durations and sizes as operators write them in config: "250ms", "30s", "5m", "72h", "1d";
// "512", "10KB"/"10KiB", "20MB"/"20MiB" (both spellings mean powers of 1024, as mail
// servers have always meant them).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace txmail {

Result<std::chrono::milliseconds> parse_duration(std::string_view s);
Result<std::uint64_t> parse_size(std::string_view s);

// Wall-clock milliseconds since the epoch (event times, next-attempt times, key lifecycle).
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace txmail
