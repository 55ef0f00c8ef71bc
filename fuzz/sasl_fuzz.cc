// SMTP AUTH exchanges: the AUTH command line (mechanism and initial response) and the PLAIN
// and LOGIN responses decoded. Decoded PLAIN credentials encode back to what was decoded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base64.h"
#include "smtp/proto/command.h"
#include "smtp/proto/sasl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t eol = in.find('\n');
  const std::string_view line = in.substr(0, eol);
  const std::string_view response = eol == std::string_view::npos ? line : in.substr(eol + 1);

  // The first line as a command ("AUTH PLAIN <base64>"), its initial response decoded.
  if (auto cmd = txmail::smtp::parse_command(std::string("AUTH ").append(line));
      cmd && cmd->initial_response) {
    (void)txmail::smtp::decode_plain_response(*cmd->initial_response);
    (void)txmail::smtp::decode_login_response(*cmd->initial_response);
  }

  if (auto plain = txmail::smtp::decode_plain_response(response)) {
    if (plain->authzid.find('\0') != std::string::npos
        || plain->user.find('\0') != std::string::npos) {
      __builtin_trap();
    }
    std::string joined = plain->authzid;
    joined.append(1, '\0').append(plain->user).append(1, '\0').append(plain->password);
    std::string again;
    if (!txmail::base64_decode(txmail::base64_encode(joined), again) || again != joined) {
      __builtin_trap();
    }
  }
  if (auto login = txmail::smtp::decode_login_response(response)) {
    if (login->size() > response.size()) {
      __builtin_trap();
    }
  }
  return 0;
}
