// Quoted-printable: the decoder of job content a stranger sends encoded never crashes and never
// grows its input; the encoder of outgoing text round-trips through it exactly and keeps every
// line within 76 characters, with no bare CR or LF and no whitespace before a line break.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mime/compose.h"
#include "mime/quoted_printable.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  if (txmail::mime::decode_quoted_printable(in, decoded) && decoded.size() > in.size()) {
    __builtin_trap();
  }

  const std::string encoded = txmail::mime::quoted_printable(in);
  std::string back;
  if (!txmail::mime::decode_quoted_printable(encoded, back) || back != in) {
    __builtin_trap();
  }
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    const bool crlf = c == '\r' && i + 1 < encoded.size() && encoded[i + 1] == '\n';
    if (crlf) {
      if (i - line_start > 76
          || (i > line_start && (encoded[i - 1] == ' ' || encoded[i - 1] == '\t'))) {
        __builtin_trap();
      }
      line_start = i + 2;
      ++i;
    } else if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) > 126) {
      __builtin_trap();
    }
  }
  if (encoded.size() - line_start > 76) {
    __builtin_trap();
  }
  return 0;
}
