// SHA-256 as lower-case hex, fed in pieces (a message's chunks as they come) or at once.
// Internal to the cluster module: the digest a chunked spool record carries.
#pragma once

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace txmail::cluster {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

  ~Sha256() { EVP_MD_CTX_free(ctx_); }

  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) = delete;
  Sha256& operator=(Sha256&&) = delete;

  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }

  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest.data(), &size);
    std::string out;
    out.reserve(std::size_t{2} * size);
    for (unsigned int i = 0; i < size; ++i) {
      out += fmt::format("{:02x}", digest[i]);
    }
    return out;
  }

  static std::string of(std::string_view bytes) {
    Sha256 sha;
    sha.update(bytes);
    return sha.hex();
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace txmail::cluster
