#include "net/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace txmail::net {

bool parse_ip(std::string_view text, std::array<std::uint8_t, 16>& out, bool& v4) {
  if (text.find('\0') != std::string_view::npos) {
    return false;  // inet_pton would stop at the NUL and accept what comes before it
  }
  const std::string s(text);
  in_addr a4{};
  in6_addr a6{};
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    v4 = true;
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    v4 = std::memcmp(out.data(), kMapped, 12) == 0;
    return true;
  }
  return false;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  c.text_ = std::string(text);
  const std::size_t slash = text.find('/');
  if (!parse_ip(text.substr(0, slash), c.bytes_, c.v4_)) {
    return make_error(ErrorCode::kInvalidArgument, "not an IP address or CIDR: '" + c.text_ + "'");
  }
  const int max = c.v4_ ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 || prefix > max) {
      return make_error(ErrorCode::kInvalidArgument, "bad prefix length in '" + c.text_ + "'");
    }
  }
  c.prefix_ = c.v4_ ? prefix + 96 : prefix;
  return c;
}

bool Cidr::contains(std::string_view address) const {
  std::array<std::uint8_t, 16> a{};
  bool v4 = false;
  if (!parse_ip(address, a, v4) || v4 != v4_) {
    return false;
  }
  const int full = prefix_ / 8;
  if (std::memcmp(a.data(), bytes_.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  const int rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (bytes_[full] & mask);
}

}  // namespace txmail::net
