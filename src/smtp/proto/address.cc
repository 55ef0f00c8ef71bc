#include "smtp/proto/address.h"

#include <cstring>

namespace txmail::smtp {

namespace {

constexpr std::size_t kMaxLocal = 64;    // RFC 5321 section 4.5.3.1.1
constexpr std::size_t kMaxDomain = 255;  // section 4.5.3.1.2
constexpr std::size_t kMaxPath = 256;    // section 4.5.3.1.3, with the brackets

bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

// atext (RFC 5322 section 3.2.3), extended with UTF-8 octets by RFC 6531 section 3.3.
bool is_atext(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c >= 0x80
         || std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

bool valid_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = i;
    int value = 0;
    while (j < s.size() && is_digit(static_cast<unsigned char>(s[j])) && j - i < 3) {
      value = value * 10 + (s[j] - '0');
      ++j;
    }
    if (j == i || value > 255) {
      return false;
    }
    ++parts;
    if (j == s.size()) {
      break;
    }
    if (s[j] != '.') {
      return false;
    }
    i = j + 1;
  }
  return parts == 4;
}

bool valid_ipv6(std::string_view s) {
  if (s.empty() || s.size() > 45) {
    return false;
  }
  for (unsigned char c : s) {
    if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':'
          || c == '.')) {
      return false;
    }
  }
  return s.find(':') != std::string_view::npos;
}

bool valid_literal(std::string_view lit) {
  if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') {
    return false;
  }
  const std::string_view inner = lit.substr(1, lit.size() - 2);
  if (inner.size() > 5 && (inner.substr(0, 5) == "IPv6:" || inner.substr(0, 5) == "ipv6:")) {
    return valid_ipv6(inner.substr(5));
  }
  return valid_ipv4(inner);
}

bool valid_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') {
    return false;
  }
  char prev = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '.') {
      if (prev == '.') {
        return false;
      }
    } else if (!is_atext(c)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

// Quoted-string of RFC 5321: qtextSMTP or quoted-pair, plus UTF-8 octets (RFC 6531).
bool valid_quoted(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') {
    return false;
  }
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) {
        return false;
      }
      const auto next = static_cast<unsigned char>(s[++i]);
      if (next < 32 || next > 126) {
        return false;
      }
    } else if (c == '"' || c < 32 || c == 127) {
      return false;
    }
  }
  return true;
}

// Finds the end of the local part: a quoted string is scanned with its escapes, so '@' or
// '>' inside quotes do not end it.
std::size_t local_part_end(std::string_view s) {
  if (!s.empty() && s.front() == '"') {
    for (std::size_t i = 1; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        return i + 1;
      }
    }
    return std::string_view::npos;
  }
  const std::size_t at = s.find('@');
  return at;
}

bool has_non_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// A domain: dot-separated labels of letters, digits and hyphens (no leading or trailing
// hyphen), or U-labels in UTF-8; or an address literal.
bool valid_domain(std::string_view d, bool& utf8) {
  if (d.empty() || d.size() > kMaxDomain) {
    return false;
  }
  if (d.front() == '[') {
    return valid_literal(d);
  }
  std::size_t start = 0;
  while (start <= d.size()) {
    std::size_t end = d.find('.', start);
    if (end == std::string_view::npos) {
      end = d.size();
    }
    const std::string_view label = d.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80) {
        utf8 = true;
      } else if (!(is_alpha(c) || is_digit(c) || c == '-')) {
        return false;
      }
    }
    if (end == d.size()) {
      break;
    }
    start = end + 1;
  }
  return !utf8 || valid_utf8(d);
}

tl::expected<Mailbox, PathError> parse_mailbox(std::string_view in) {
  const std::size_t local_end = local_part_end(in);
  if (local_end == std::string_view::npos || local_end == 0 || local_end >= in.size()
      || in[local_end] != '@') {
    return tl::unexpected(PathError::kSyntax);
  }
  Mailbox box;
  const std::string_view local = in.substr(0, local_end);
  const std::string_view domain = in.substr(local_end + 1);
  if (local.size() > kMaxLocal) {
    return tl::unexpected(PathError::kTooLong);
  }
  if (has_non_ascii(local) && !valid_utf8(local)) {
    return tl::unexpected(PathError::kInvalidUtf8);
  }
  if (!(valid_dot_string(local) || valid_quoted(local))) {
    return tl::unexpected(PathError::kLocalPart);
  }
  bool utf8_domain = false;
  if (!valid_domain(domain, utf8_domain)) {
    return tl::unexpected(has_non_ascii(domain) && !valid_utf8(domain) ? PathError::kInvalidUtf8
                                                                       : PathError::kDomain);
  }
  box.local = std::string(local);
  box.domain = std::string(domain);
  box.utf8 = utf8_domain || has_non_ascii(local);
  return box;
}

tl::expected<Mailbox, PathError> parse_path(std::string_view in, bool allow_null,
                                            std::size_t& consumed) {
  if (in.empty() || in.front() != '<') {
    return tl::unexpected(PathError::kSyntax);
  }
  std::string_view rest = in.substr(1);
  if (!rest.empty() && rest.front() == '>') {
    if (!allow_null) {
      return tl::unexpected(PathError::kSyntax);
    }
    consumed = 2;
    return Mailbox{};
  }
  std::size_t skipped = 1;
  // An obsolete source route "@a,@b:" is accepted and ignored (RFC 5321 section 4.1.2).
  if (!rest.empty() && rest.front() == '@') {
    const std::size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return tl::unexpected(PathError::kSyntax);
    }
    skipped += colon + 1;
    rest = rest.substr(colon + 1);
  }
  const std::size_t local_end = local_part_end(rest);
  if (local_end == std::string_view::npos) {
    return tl::unexpected(PathError::kSyntax);
  }
  const std::size_t close = rest.find('>', local_end);
  if (close == std::string_view::npos) {
    return tl::unexpected(PathError::kSyntax);
  }
  if (close + 2 > kMaxPath) {
    return tl::unexpected(PathError::kTooLong);
  }
  auto box = parse_mailbox(rest.substr(0, close));
  if (!box) {
    return box;
  }
  consumed = skipped + close + 1;
  return box;
}

}  // namespace txmail::smtp
