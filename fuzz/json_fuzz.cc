// JSON request bodies (jobs, settings): the strict parser never crashes, and a duplicate key it
// reports always makes the body refused.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/strict_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto parsed = txmail::api::parse_strict_json(in);
  if (parsed.error.empty() && txmail::api::duplicate_key(in)) {
    __builtin_trap();
  }
  return 0;
}
