// The 8-bit to 7-bit conversion of submitted messages (mime/seven_bit.h) reads a stranger's
// MIME structure: it never crashes, and what it returns is 7-bit clean with nothing but CRLF
// line breaks when its input had nothing else.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mime/seven_bit.h"

namespace {

bool crlf_only(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      return false;
    }
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto out = txmail::mime::to_seven_bit(in);
  if (!out) {
    return 0;
  }
  if (!txmail::mime::seven_bit_clean(*out) || (crlf_only(in) && !crlf_only(*out))) {
    __builtin_trap();
  }
  return 0;
}
