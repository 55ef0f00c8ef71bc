#include "net/tls_context.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace txmail::net {

namespace {

constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// A P-256 key and a one-year self-signed certificate for `host`.
Result<void> use_self_signed(SSL_CTX* ctx, const std::string& host) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  if (!key || !cert) {
    return make_error(ErrorCode::kInternal, "tls: cannot generate a key");
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0
      || SSL_CTX_use_certificate(ctx, cert.get()) != 1
      || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return make_error(ErrorCode::kInternal, "tls: cannot sign a self-signed certificate");
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> make_server_tls(const TlsFiles& files) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                  | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_DH_USE);
  SSL_CTX_set_cipher_list(native, kCiphers12);
  if (files.cert.empty() && files.key.empty()) {
    auto r = use_self_signed(native, files.hostname);
    if (!r) {
      return tl::unexpected(r.error());
    }
    return ctx;
  }
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert, ec);
  if (ec) {
    return make_error(ErrorCode::kConfig,
                      "tls.cert: cannot load '" + files.cert + "': " + ec.message());
  }
  ctx->use_private_key_file(files.key, asio::ssl::context::pem, ec);
  if (ec) {
    return make_error(ErrorCode::kConfig,
                      "tls.key: cannot load '" + files.key + "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return make_error(ErrorCode::kConfig, "tls.key: does not match tls.cert");
  }
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> make_client_tls() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);
  if (ec) {
    return make_error(ErrorCode::kConfig,
                      "tls: cannot load the system CA certificates: " + ec.message());
  }
  return ctx;
}

void set_server_name(SSL* ssl, const std::string& host) {
  // SSL_set_tlsext_host_name is a macro that casts the name with a C cast (to void*).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  SSL_set_tlsext_host_name(ssl, host.c_str());
#pragma GCC diagnostic pop
}

}  // namespace txmail::net
