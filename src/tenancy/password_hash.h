// Password hashing for SMTP and API credentials: PBKDF2-HMAC-SHA256 (OpenSSL) with a random
// 16-byte salt, encoded as "$pbkdf2-sha256$i=<iterations>$<salt b64>$<hash b64>". Slow on
// purpose (tens of milliseconds): call it off the I/O threads.
#pragma once

#include <string>
#include <string_view>

namespace txmail::tenancy {

constexpr int kDefaultIterations = 210'000;  // OWASP's 2023 figure for PBKDF2-HMAC-SHA256

std::string hash_password(std::string_view password, int iterations = kDefaultIterations);
// Constant-time comparison; false for a malformed encoding.
bool verify_password(std::string_view password, std::string_view encoded);

}  // namespace txmail::tenancy
