// Base64 (RFC 4648 section 4, with padding), through OpenSSL's encoder.
#pragma once

#include <string>
#include <string_view>

namespace txmail {

std::string base64_encode(std::string_view in);
// False on a character outside the alphabet, a length that is not a multiple of 4, or
// padding other than one or two '=' at the end. Never throws.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace txmail
