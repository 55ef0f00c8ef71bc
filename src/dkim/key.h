// DKIM signing keys: RSA (2048 bits or more; rsa-sha256) and Ed25519 (ed25519-sha256, RFC 8463).
// Generation, PKCS#8 PEM export and import, the public key as published in DNS, and the
// signature primitive over the canonical header data (RFC 6376 section 3.7).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

// OpenSSL's names for its types, declared without its headers.
using EVP_PKEY = struct evp_pkey_st;  // NOLINT(readability-identifier-naming)
using EVP_MD = struct evp_md_st;      // NOLINT(readability-identifier-naming)

namespace txmail::dkim {

enum class Algorithm { kRsaSha256, kEd25519Sha256 };

// SHA-256, fetched from the provider once (an implicit fetch on every use costs microseconds).
const EVP_MD* sha256();

std::string_view algorithm_name(Algorithm a);  // "rsa-sha256", "ed25519-sha256"
bool parse_algorithm(std::string_view name, Algorithm& out);

constexpr int kMinRsaBits = 2048;

class PrivateKey {
 public:
  // RSA keys under kMinRsaBits are refused.
  static Result<PrivateKey> generate(Algorithm algorithm, int rsa_bits = kMinRsaBits);
  // PEM: PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
  static Result<PrivateKey> from_pem(std::string_view pem);
  // An Ed25519 key from its raw 32-byte seed (RFC 8032), the form RFC 8463's example uses.
  static Result<PrivateKey> ed25519_from_seed(std::string_view seed);

  Algorithm algorithm() const { return algorithm_; }

  int bits() const;
  std::string to_pem() const;  // PKCS#8
  // The p= value: base64 of the SubjectPublicKeyInfo (RSA) or of the raw 32 bytes (Ed25519).
  std::string public_key_base64() const;
  // "v=DKIM1; k=rsa; p=..." (or k=ed25519), the TXT record at <selector>._domainkey.<domain>.
  std::string dns_record() const;
  // The signature over the canonical header data: RSASSA-PKCS1-v1_5 with SHA-256, or Ed25519
  // of the data's SHA-256 (RFC 8463 section 3).
  Result<std::string> sign(std::string_view data) const;

 private:
  struct Contexts;  // signing contexts set up once and reused (key.cc)

  PrivateKey(std::shared_ptr<EVP_PKEY> key, Algorithm algorithm);

  std::shared_ptr<EVP_PKEY> key_;
  Algorithm algorithm_ = Algorithm::kRsaSha256;
  std::shared_ptr<Contexts> contexts_;
};

// A public key from a DKIM key record's k= and p= (base64 already decoded).
class PublicKey {
 public:
  static Result<PublicKey> from_record(std::string_view k, std::string_view p_der);

  Algorithm algorithm() const { return algorithm_; }

  bool verify(std::string_view data, std::string_view signature) const;

 private:
  PublicKey(std::shared_ptr<EVP_PKEY> key, Algorithm algorithm)
      : key_(std::move(key)), algorithm_(algorithm) {}

  std::shared_ptr<EVP_PKEY> key_;
  Algorithm algorithm_ = Algorithm::kRsaSha256;
};

}  // namespace txmail::dkim
