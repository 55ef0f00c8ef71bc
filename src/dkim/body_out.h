// Where canonical body bytes go (body_canon.cc): into SHA-256 or into a string. Internal to the
// dkim module.
//
// For the hash, the body is not copied: a long span goes to EVP_DigestUpdate where it is. What
// is copied into a small buffer: short spans and the few bytes canonicalization writes itself
// (one SP for a run of white space, CRLFs of empty lines), and up to 63 bytes at each end of a
// long span, so that every update hands SHA-256 whole 64-byte blocks. Measured on this
// project's machines (OpenSSL 3.0, SHA-NI): updates of a few hundred bytes that leave partial
// blocks behind run 10% slower than one update of the whole body, whole-block updates about as
// fast.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

// OpenSSL's name for its type, declared without its headers.
using EVP_MD_CTX = struct evp_md_ctx_st;  // NOLINT(readability-identifier-naming)

namespace txmail::dkim::detail {

class BodyOut {
 public:
  // buffer_ is left unset: it is written before it is read.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
  explicit BodyOut(EVP_MD_CTX* ctx) : ctx_(ctx) {}

  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
  explicit BodyOut(std::string* text) : text_(text) {}

  BodyOut(const BodyOut&) = delete;
  BodyOut& operator=(const BodyOut&) = delete;
  BodyOut(BodyOut&&) = delete;
  BodyOut& operator=(BodyOut&&) = delete;

  ~BodyOut() { flush(); }

  void put(std::string_view s) {
    if (text_ != nullptr) {
      text_->append(s);
    } else if (s.size() >= kDirect) {
      put_long(s);
    } else {
      if (s.size() > sizeof(buffer_) - used_) {
        flush_blocks();
      }
      std::copy(s.begin(), s.end(), buffer_ + used_);
      used_ += s.size();
    }
  }

  // n CRLFs (empty lines held back until text followed them).
  void put_crlfs(std::size_t n);

  // Everything put so far goes to the hash. The destructor does it too.
  void flush();

 private:
  static constexpr std::size_t kBlock = 64;  // SHA-256 block size
  // Spans this long go to SHA-256 where they are (bench/dkim_bench body measures the choice).
  static constexpr std::size_t kDirect = 256;

  void put_long(std::string_view s);
  // The whole blocks in the buffer go to the hash; the rest (under one block) moves to its start.
  void flush_blocks();

  EVP_MD_CTX* ctx_ = nullptr;
  std::string* text_ = nullptr;
  char buffer_[4096];
  std::size_t used_ = 0;
};

}  // namespace txmail::dkim::detail
