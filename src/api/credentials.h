// The credentials of an Authorization header, read without the server (issue harden-1: a
// stranger writes this header before anything is checked). Pure: no I/O; the fuzz target
// links just this.
#pragma once

#include <string>
#include <string_view>

namespace txmail::api {

struct Credentials {
  enum class Scheme {
    kNone,         // no header
    kBearer,       // `secret` holds the token
    kBasic,        // `user` and `secret` hold the name and the password
    kMalformed,    // Basic whose base64 or user:password split is broken
    kUnsupported,  // any other scheme
  };
  Scheme scheme = Scheme::kNone;
  std::string user;
  std::string secret;
};

// The scheme is matched without regard to case and followed by one space (RFC 9110 11.4);
// Basic's user name ends at the first colon (RFC 7617 2: a user name holds none).
Credentials read_credentials(std::string_view authorization);

}  // namespace txmail::api
