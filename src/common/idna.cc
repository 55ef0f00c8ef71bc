#include "common/idna.h"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace txmail::idna {

namespace {

struct FreeDeleter {
  void operator()(char* p) const { idn2_free(p); }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  });
  return out;
}

// An ASCII name needs libidn2 only when a label claims to be an A-label ("xn--"): the rest
// (letters, digits, hyphens) is already in canonical form once in lower case.
bool has_a_label(std::string_view lowered) {
  for (std::size_t start = 0; start <= lowered.size();) {
    if (lowered.substr(start).starts_with("xn--")) {
      return true;
    }
    const std::size_t dot = lowered.find('.', start);
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return false;
}

std::size_t at_of(std::string_view address) {
  // The domain never holds '@'; a quoted local part may.
  return address.rfind('@');
}

}  // namespace

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

Result<std::string> to_ascii(std::string_view domain) {
  if (domain.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "empty domain");
  }
  if (domain.front() == '[') {
    return std::string(domain);
  }
  std::string input = is_ascii(domain) ? lower(domain) : std::string(domain);
  if (is_ascii(input) && !has_a_label(input)) {
    return input;
  }
  char* out = nullptr;
  // UTS #46 mapping (case folding, NFC), then IDNA2008 validity of every label; an "xn--"
  // label is decoded and checked too (the round trip libidn2 does by default).
  const int rc =
      idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(input.c_str()),
                     reinterpret_cast<std::uint8_t**>(&out), IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc != IDN2_OK) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("invalid internationalized domain name: ") + idn2_strerror(rc));
  }
  const std::unique_ptr<char, FreeDeleter> owned(out);
  return lower(out);
}

std::string to_unicode(std::string_view domain) {
  if (domain.empty() || domain.front() == '[') {
    return std::string(domain);
  }
  std::string input = is_ascii(domain) ? lower(domain) : std::string(domain);
  if (is_ascii(input) && !has_a_label(input)) {
    return input;
  }
  char* out = nullptr;
  const int rc = idn2_to_unicode_8z8z(input.c_str(), &out, 0);
  if (rc != IDN2_OK || out == nullptr) {
    return input;
  }
  const std::unique_ptr<char, FreeDeleter> owned(out);
  return {out};
}

Result<std::string> canonical_address(std::string_view address) {
  const std::size_t at = at_of(address);
  if (at == std::string_view::npos) {
    return std::string(address);
  }
  auto domain = to_ascii(address.substr(at + 1));
  if (!domain) {
    return tl::unexpected(domain.error());
  }
  return std::string(address.substr(0, at + 1)) + *domain;
}

std::string address_key(std::string_view address) {
  if (auto canonical = canonical_address(address)) {
    return std::move(*canonical);
  }
  const std::size_t at = at_of(address);
  if (at == std::string_view::npos) {
    return std::string(address);
  }
  return std::string(address.substr(0, at + 1)) + lower(address.substr(at + 1));
}

std::string display_address(std::string_view address) {
  const std::size_t at = at_of(address);
  if (at == std::string_view::npos) {
    return std::string(address);
  }
  return std::string(address.substr(0, at + 1)) + to_unicode(address.substr(at + 1));
}

}  // namespace txmail::idna
