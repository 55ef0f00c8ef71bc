// TLS contexts for servers (STARTTLS, port 465, HTTPS): TLS 1.2 and newer, forward-secret
// AEAD ciphers only. With no certificate configured, a self-signed one is generated in memory
// at start, so a development install works out of the box (clients must not verify it).
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "net/asio.h"

namespace txmail::net {

struct TlsFiles {
  std::string cert;  // PEM chain; empty with key empty: generate a self-signed certificate
  std::string key;   // PEM private key
  std::string hostname = "localhost";  // subject of a generated certificate
};

Result<std::shared_ptr<asio::ssl::context>> make_server_tls(const TlsFiles& files);
// For outbound connections: TLS 1.2+, the system's trusted CAs (used when a connection asks
// for verification).
Result<std::shared_ptr<asio::ssl::context>> make_client_tls();
// Names the server an outbound TLS connection is for (SNI). Like OpenSSL's
// SSL_set_tlsext_host_name, whose result every caller ignored: it fails only for a name
// longer than 255 bytes, which certificate verification then refuses anyway.
void set_server_name(SSL* ssl, const std::string& host);

}  // namespace txmail::net
