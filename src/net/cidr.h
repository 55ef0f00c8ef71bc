// IP address ranges ("192.0.2.0/24", "2001:db8::/32", or a single address) for allow-lists.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace txmail::net {

class Cidr {
 public:
  static Result<Cidr> parse(std::string_view text);

  // `address` is a textual IPv4 or IPv6 address; IPv4-mapped IPv6 matches IPv4 ranges.
  bool contains(std::string_view address) const;

  std::string to_string() const { return text_; }

 private:
  std::array<std::uint8_t, 16> bytes_{};
  int prefix_ = 0;
  bool v4_ = false;
  std::string text_;
};

// Parses an IPv4 or IPv6 address into 16 bytes (IPv4 as its IPv4-mapped form).
bool parse_ip(std::string_view text, std::array<std::uint8_t, 16>& out, bool& v4);

}  // namespace txmail::net
