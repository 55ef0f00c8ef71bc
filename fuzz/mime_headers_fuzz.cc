// The header section of a submitted message (SMTP DATA/BDAT): field lookup and the control
// fields (X-TXMAIL-*, X-RETARUS-M4A-*) never crash; once taken out, none is left in the header
// section, the body is untouched, and a second pass finds nothing more.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mime/control_fields.h"
#include "mime/headers.h"

namespace {

bool istarts(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = (s[i] >= 'a' && s[i] <= 'z') ? static_cast<char>(s[i] - 32) : s[i];
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

// True when a line of the header section starts a control field.
bool control_field_left(std::string_view headers) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::string_view line = headers.substr(pos);
    if (istarts(line, "X-TXMAIL-") || istarts(line, "X-RETARUS-M4A-")) {
      return true;
    }
    const std::size_t eol = headers.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 2;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view headers = txmail::mime::header_section(in);
  for (const char* name : {"From", "Sender", "Message-ID", "Date", "DKIM-Signature"}) {
    (void)txmail::mime::has_field(headers, name);
    for (const auto& value : txmail::mime::field_values(headers, name)) {
      (void)txmail::mime::address_domain(value);
      (void)txmail::mime::address_of(value);
    }
  }

  std::string message(in);
  const std::string body(in.substr(headers.size()));
  auto [fields, problem] = txmail::mime::extract_control_fields(message);
  if (!message.ends_with(body) || message.size() > in.size()) {
    __builtin_trap();
  }
  if (fields.removed > 0 && control_field_left(txmail::mime::header_section(message))) {
    __builtin_trap();
  }
  std::string again = message;
  auto [second, second_problem] = txmail::mime::extract_control_fields(again);
  if (second.removed != 0 || again != message) {
    __builtin_trap();
  }
  return 0;
}
