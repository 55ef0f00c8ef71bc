#include "tenancy/password_hash.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <vector>

#include "common/base64.h"
#include "common/ids.h"

namespace txmail::tenancy {

namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string derive(std::string_view password, std::string_view salt, int iterations) {
  std::string out(kHashBytes, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace

std::string hash_password(std::string_view password, int iterations) {
  std::string salt(kSaltBytes, '\0');
  random_bytes(salt.data(), salt.size());
  return fmt::format("$pbkdf2-sha256$i={}${}${}", iterations, base64_encode(salt),
                     base64_encode(derive(password, salt, iterations)));
}

bool verify_password(std::string_view password, std::string_view encoded) {
  constexpr std::string_view kPrefix = "$pbkdf2-sha256$i=";
  if (!encoded.starts_with(kPrefix)) {
    return false;
  }
  encoded.remove_prefix(kPrefix.size());
  int iterations = 0;
  const auto [ptr, ec] =
      std::from_chars(encoded.data(), encoded.data() + encoded.size(), iterations);
  if (ec != std::errc() || iterations < 1 || iterations > 10'000'000
      || ptr == encoded.data() + encoded.size() || *ptr != '$') {
    return false;
  }
  encoded.remove_prefix(static_cast<std::size_t>(ptr - encoded.data()) + 1);
  const std::size_t dollar = encoded.find('$');
  std::string salt;
  std::string expected;
  if (dollar == std::string_view::npos || !base64_decode(encoded.substr(0, dollar), salt)
      || !base64_decode(encoded.substr(dollar + 1), expected) || expected.size() != kHashBytes) {
    return false;
  }
  const std::string actual = derive(password, salt, iterations);
  return CRYPTO_memcmp(actual.data(), expected.data(), kHashBytes) == 0;
}

}  // namespace txmail::tenancy
