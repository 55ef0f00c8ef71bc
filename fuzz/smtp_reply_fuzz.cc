// SMTP reply lines from remote servers (strangers too): never a crash, and a line taken as a
// reply has a three-digit code from 200 to 599.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/proto/reply.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t pos = 0;
  while (pos <= in.size()) {
    std::size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = in.size();
    }
    int code = 0;
    bool last = false;
    std::string text;
    if (txmail::smtp::parse_reply_line(in.substr(pos, eol - pos), code, last, text)
        && (code < 200 || code > 599)) {
      __builtin_trap();
    }
    pos = eol + 1;
  }
  return 0;
}
