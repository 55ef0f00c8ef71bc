// The Authorization header, the first thing a stranger writes to the API: reading it never
// crashes; Basic credentials it returns encode back to a header that reads the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/credentials.h"
#include "common/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using txmail::api::Credentials;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Credentials c = txmail::api::read_credentials(in);
  if (c.scheme == Credentials::Scheme::kBasic) {
    if (c.user.find(':') != std::string::npos) {
      __builtin_trap();
    }
    const Credentials again =
        txmail::api::read_credentials("Basic " + txmail::base64_encode(c.user + ":" + c.secret));
    if (again.scheme != c.scheme || again.user != c.user || again.secret != c.secret) {
      __builtin_trap();
    }
  }
  return 0;
}
