#include "common/duration.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>

namespace txmail {

namespace {

// Splits "123unit" into its number and unit; the number must be a non-negative integer.
Result<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view s) {
  std::uint64_t n = 0;
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, n);
  if (ec != std::errc() || ptr == s.data()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "expected a number, got '" + std::string(s) + "'");
  }
  return std::pair{n, std::string_view(ptr, static_cast<std::size_t>(end - ptr))};
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view s) {
  auto parts = split_number(s);
  if (!parts) {
    return tl::unexpected(parts.error());
  }
  const auto [n, unit] = *parts;
  using std::chrono::milliseconds;
  if (unit == "ms") {
    return milliseconds(n);
  }
  if (unit == "s") {
    return milliseconds(n * 1000);
  }
  if (unit == "m") {
    return milliseconds(n * 60'000);
  }
  if (unit == "h") {
    return milliseconds(n * 3'600'000);
  }
  if (unit == "d") {
    return milliseconds(n * 86'400'000);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown duration unit in '" + std::string(s) + "' (use ms, s, m, h or d)");
}

Result<std::uint64_t> parse_size(std::string_view s) {
  auto parts = split_number(s);
  if (!parts) {
    return tl::unexpected(parts.error());
  }
  const auto [n, unit] = *parts;
  if (unit.empty() || unit == "B") {
    return n;
  }
  if (unit == "KB" || unit == "KiB") {
    return n << 10;
  }
  if (unit == "MB" || unit == "MiB") {
    return n << 20;
  }
  if (unit == "GB" || unit == "GiB") {
    return n << 30;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown size unit in '" + std::string(s) + "' (use B, KB, MB or GB)");
}

std::string iso8601_ms(std::int64_t unix_ms) {
  const auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return {buf, static_cast<std::size_t>(n)};
}

}  // namespace txmail
