// DKIM tag lists (signatures and key records from DNS are strangers' text): parsing never
// crashes, every tag it finds can be looked up by name, and values strip cleanly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dkim/signature.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto tags = txmail::dkim::parse_tags(in);
  if (tags) {
    for (const auto& t : *tags) {
      if (!txmail::dkim::tag(*tags, t.name)) {
        __builtin_trap();
      }
      (void)txmail::dkim::strip_whitespace(t.value);
    }
  }
  return 0;
}
