#include "common/base64.h"

#include <openssl/evp.h>

namespace txmail {

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) {
    return false;
  }
  // Padding is one or two '=' at the very end and nowhere else: "====", "a===" or "ab=c"
  // are not base64 (and OpenSSL would count their '=' as data bytes).
  std::size_t padding = 0;
  while (padding < in.size() && in[in.size() - 1 - padding] == '=') {
    ++padding;
  }
  if (padding > 2) {
    return false;
  }
  for (std::size_t i = 0; i < in.size() - padding; ++i) {
    const char c = in[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '+' || c == '/';
    if (!ok) {
      return false;
    }
  }
  out.assign(3 * in.size() / 4, '\0');
  if (in.empty()) {
    return true;
  }
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  // EVP_DecodeBlock counts padding as zero bytes: take them off (at most 2 of at least 3).
  if (n < 0 || static_cast<std::size_t>(n) < padding) {
    return false;
  }
  out.resize(static_cast<std::size_t>(n) - padding);
  return true;
}

}  // namespace txmail
