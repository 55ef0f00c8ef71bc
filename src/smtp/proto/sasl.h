// The client's side of the SASL exchanges of SMTP AUTH, decoded (RFC 4954 section 4, PLAIN
// RFC 4616, LOGIN draft-murchison-sasl-login): base64 responses to credentials. Pure: no I/O;
// the server session (session_auth.cc) sends the challenges, reads the lines and checks the
// password.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace txmail::smtp {

struct PlainCredentials {
  std::string authzid;  // empty when the client names none
  std::string user;     // authcid
  std::string password;
};

enum class SaslError {
  kUndecodable,  // not base64: 501 5.5.2 Cannot decode response
  kMalformed,    // base64, but not authzid NUL authcid NUL passwd
};

// A PLAIN response (an initial response or the line after "334 "); "=" is the empty response
// (RFC 4954 section 4), which is malformed for PLAIN.
tl::expected<PlainCredentials, SaslError> decode_plain_response(std::string_view response);

// A LOGIN response (the user name or the password, each its own line): nullopt when it is not
// base64.
std::optional<std::string> decode_login_response(std::string_view response);

}  // namespace txmail::smtp
