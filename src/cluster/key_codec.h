// Config store keys ("account/acme", "domain/example.com", "suppress/acme/a+b@example.org")
// as JetStream KV keys, which allow only [-/_=.a-zA-Z0-9] and use '.' as a subject separator.
// Letters, digits, '-', '/' and '_' stay; every other byte becomes "=XX" (upper-case hex). The
// mapping is one-to-one and keeps prefixes: the prefix of a key encodes to a prefix of its code.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace txmail::cluster {

std::string encode_key(std::string_view key);
std::optional<std::string> decode_key(std::string_view code);  // nullopt: not a code

}  // namespace txmail::cluster
