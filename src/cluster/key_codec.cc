#include "cluster/key_codec.h"

namespace txmail::cluster {

namespace {

bool kept(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
         || c == '/' || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string encode_key(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size() + 8);
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (kept(c)) {
      out.push_back(ch);
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> decode_key(std::string_view code) {
  std::string out;
  out.reserve(code.size());
  for (std::size_t i = 0; i < code.size(); ++i) {
    const auto c = static_cast<unsigned char>(code[i]);
    if (kept(c)) {
      out.push_back(code[i]);
      continue;
    }
    if (c != '=' || i + 2 >= code.size()) {
      return std::nullopt;
    }
    const int hi = hex_value(code[i + 1]);
    const int lo = hex_value(code[i + 2]);
    const int value = hi * 16 + lo;
    // Only the canonical code: a kept byte written as =XX is not one.
    if (hi < 0 || lo < 0 || kept(static_cast<unsigned char>(value))) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace txmail::cluster
