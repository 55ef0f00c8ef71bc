// Base64 from strangers (HTTP Basic, AUTH, job bodies and attachments, DKIM): never crashes,
// and whatever decodes encodes back to something that decodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  if (txmail::base64_decode(in, out)) {
    if (out.size() > in.size()) {
      __builtin_trap();  // decoding never grows the text
    }
    std::string again;
    if (!txmail::base64_decode(txmail::base64_encode(out), again) || again != out) {
      __builtin_trap();
    }
  }
  return 0;
}
