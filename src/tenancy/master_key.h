// The master key that seals DKIM private keys at rest (AES-256-GCM). It never enters the config
// store: it comes from a file or an environment variable named in the config ([dkim]
// master_key_file, master_key_env), so a copy of the store alone reveals no private key.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "common/result.h"

namespace txmail::tenancy {

class MasterKey {
 public:
  // 32 bytes written as 64 hex digits or as base64 (a trailing newline is fine).
  static Result<MasterKey> parse(std::string_view text);
  static Result<MasterKey> from_file(const std::string& path);
  static Result<MasterKey> from_env(const std::string& name);
  // Reads the file, or creates it (mode 0600, random key) when it does not exist.
  static Result<MasterKey> load_or_create(const std::string& path);

  // "v1:" + base64(nonce 12 | ciphertext | tag 16). `context` is bound as associated data
  // (for example "dkim:example.com:txm1"): a sealed value moved to another name fails to open.
  std::string seal(std::string_view plaintext, std::string_view context) const;
  Result<std::string> open(std::string_view sealed, std::string_view context) const;
  // A secret derived for one purpose (HMAC-SHA256 of `context` under the key), as 64 hex
  // digits: for example each account's webhook signing secret, never stored.
  std::string derive(std::string_view context) const;

 private:
  MasterKey() = default;

  std::array<unsigned char, 32> key_{};
};

}  // namespace txmail::tenancy
