#include "dkim/key.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <mutex>
#include <vector>

#include "common/base64.h"

namespace txmail::dkim {

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) {
  return {key, EVP_PKEY_free};
}

tl::unexpected<Error> key_error(const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, "dkim key: " + what);
}

std::string digest_of(std::string_view data) {
  std::string digest(32, '\0');
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(digest.data()), &n,
             sha256(), nullptr);
  return digest;
}

}  // namespace

const EVP_MD* sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Setting a signing context up (provider fetch, key export) costs about as much as a tenth of
// an RSA signature: contexts are made once per concurrent signer and reused. RSA signs the
// SHA-256 digest with EVP_PKEY_sign (PKCS#1 v1.5, DigestInfo added by OpenSSL); Ed25519 signs
// through a DigestSign context, which its one-shot operation leaves reusable.
struct PrivateKey::Contexts {
  std::mutex mutex;
  std::vector<EVP_PKEY_CTX*> rsa;
  std::vector<EVP_MD_CTX*> ed25519;

  Contexts() = default;
  Contexts(const Contexts&) = delete;
  Contexts& operator=(const Contexts&) = delete;
  Contexts(Contexts&&) = delete;
  Contexts& operator=(Contexts&&) = delete;

  ~Contexts() {
    for (auto* c : rsa) {
      EVP_PKEY_CTX_free(c);
    }
    for (auto* c : ed25519) {
      EVP_MD_CTX_free(c);
    }
  }

  template <typename T>
  T* take(std::vector<T*>& free_list) {
    std::lock_guard lock(mutex);
    if (free_list.empty()) {
      return nullptr;
    }
    T* c = free_list.back();
    free_list.pop_back();
    return c;
  }

  template <typename T>
  void give(std::vector<T*>& free_list, T* c) {
    std::lock_guard lock(mutex);
    free_list.push_back(c);
  }
};

PrivateKey::PrivateKey(std::shared_ptr<EVP_PKEY> key, Algorithm algorithm)
    : key_(std::move(key)), algorithm_(algorithm), contexts_(std::make_shared<Contexts>()) {}

std::string_view algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::kRsaSha256:
      return "rsa-sha256";
    case Algorithm::kEd25519Sha256:
      return "ed25519-sha256";
  }
  return "rsa-sha256";
}

bool parse_algorithm(std::string_view name, Algorithm& out) {
  if (name == "rsa-sha256") {
    out = Algorithm::kRsaSha256;
    return true;
  }
  if (name == "ed25519-sha256") {
    out = Algorithm::kEd25519Sha256;
    return true;
  }
  return false;
}

Result<PrivateKey> PrivateKey::generate(Algorithm algorithm, int rsa_bits) {
  if (algorithm == Algorithm::kRsaSha256 && rsa_bits < kMinRsaBits) {
    return key_error("RSA keys under 2048 bits are refused");
  }
  EVP_PKEY* key = algorithm == Algorithm::kRsaSha256
                      ? EVP_RSA_gen(static_cast<unsigned int>(rsa_bits))
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) {
    return key_error("key generation failed");
  }
  return PrivateKey(own(key), algorithm);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return key_error("not a PEM private key");
  }
  auto owned = own(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return key_error("RSA keys under 2048 bits are refused");
      }
      return PrivateKey(owned, Algorithm::kRsaSha256);
    case EVP_PKEY_ED25519:
      return PrivateKey(owned, Algorithm::kEd25519Sha256);
    default:
      return key_error("only RSA and Ed25519 keys can sign DKIM");
  }
}

Result<PrivateKey> PrivateKey::ed25519_from_seed(std::string_view seed) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (key == nullptr) {
    return key_error("not a 32-byte Ed25519 seed");
  }
  return PrivateKey(own(key), Algorithm::kEd25519Sha256);
}

int PrivateKey::bits() const {
  return EVP_PKEY_get_bits(key_.get());
}

std::string PrivateKey::to_pem() const {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(n));
  return pem;
}

std::string PrivateKey::public_key_base64() const {
  if (algorithm_ == Algorithm::kEd25519Sha256) {
    unsigned char raw[32];
    std::size_t n = sizeof(raw);
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &n);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(raw), n));
  }
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key_.get(), &der);
  std::string out = base64_encode(std::string_view(reinterpret_cast<const char*>(der),
                                                   static_cast<std::size_t>(std::max(n, 0))));
  OPENSSL_free(der);
  return out;
}

std::string PrivateKey::dns_record() const {
  return std::string("v=DKIM1; k=") + (algorithm_ == Algorithm::kRsaSha256 ? "rsa" : "ed25519")
         + "; p=" + public_key_base64();
}

Result<std::string> PrivateKey::sign(std::string_view data) const {
  const std::string digest = digest_of(data);
  const auto* in = reinterpret_cast<const unsigned char*>(digest.data());
  std::string signature(static_cast<std::size_t>(EVP_PKEY_get_size(key_.get())), '\0');
  auto* out = reinterpret_cast<unsigned char*>(signature.data());
  std::size_t n = signature.size();
  if (algorithm_ == Algorithm::kRsaSha256) {
    EVP_PKEY_CTX* ctx = contexts_->take(contexts_->rsa);
    if (ctx == nullptr) {
      ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr);
      if (ctx == nullptr || EVP_PKEY_sign_init(ctx) != 1
          || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1
          || EVP_PKEY_CTX_set_signature_md(ctx, sha256()) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return key_error("signing init failed");
      }
    }
    const bool ok = EVP_PKEY_sign(ctx, out, &n, in, digest.size()) == 1;
    contexts_->give(contexts_->rsa, ctx);
    if (!ok) {
      return key_error("signing failed");
    }
  } else {
    EVP_MD_CTX* ctx = contexts_->take(contexts_->ed25519);
    if (ctx == nullptr) {
      ctx = EVP_MD_CTX_new();
      if (ctx == nullptr
          || EVP_DigestSignInit_ex(ctx, nullptr, nullptr, nullptr, nullptr, key_.get(), nullptr)
                 != 1) {
        EVP_MD_CTX_free(ctx);
        return key_error("signing init failed");
      }
    }
    const bool ok = EVP_DigestSign(ctx, out, &n, in, digest.size()) == 1;
    contexts_->give(contexts_->ed25519, ctx);
    if (!ok) {
      return key_error("signing failed");
    }
  }
  signature.resize(n);
  return signature;
}

Result<PublicKey> PublicKey::from_record(std::string_view k, std::string_view p_der) {
  const auto* in = reinterpret_cast<const unsigned char*>(p_der.data());
  if (k.empty() || k == "rsa") {
    const unsigned char* cursor = in;
    EVP_PKEY* key = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(p_der.size()));
    if (key == nullptr) {
      // Some publish the bare RSAPublicKey (RFC 6376 section 3.6.1's letter).
      cursor = in;
      key = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, static_cast<long>(p_der.size()));
    }
    if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
      EVP_PKEY_free(key);
      return key_error("p= is not an RSA public key");
    }
    return PublicKey(own(key), Algorithm::kRsaSha256);
  }
  if (k == "ed25519") {
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, in, p_der.size());
    if (key == nullptr) {
      return key_error("p= is not an Ed25519 public key");
    }
    return PublicKey(own(key), Algorithm::kEd25519Sha256);
  }
  return key_error("unknown key type k=" + std::string(k));
}

bool PublicKey::verify(std::string_view data, std::string_view signature) const {
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string input;
  const EVP_MD* md = sha256();
  if (algorithm_ == Algorithm::kEd25519Sha256) {
    input = digest_of(data);
    data = input;
    md = nullptr;
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size())
         == 1;
}

}  // namespace txmail::dkim
