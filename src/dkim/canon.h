// DKIM canonicalization (RFC 6376 section 3.4): "simple" and "relaxed", for header fields and
// for the body, and the SHA-256 body hash. Pure; works on CRLF-terminated messages.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace txmail::dkim {

enum class Canon { kSimple, kRelaxed };

using Digest = std::array<std::uint8_t, 32>;

// One header field as it appears: name, colon, value with its folded lines, and the final CRLF.
struct HeaderField {
  std::string_view name;  // without the colon or the white space before it
  std::string_view raw;
};

// The header section and the body: split at the first empty line. With no empty line the
// whole message is header and the body is empty.
struct MessageParts {
  std::string_view headers;  // ends with the CRLF of its last field
  std::string_view body;     // after the empty line
};

MessageParts split_message(std::string_view message);

// The fields of a header section, in order. A line that is not a field (no colon) is skipped.
std::vector<HeaderField> header_fields(std::string_view headers);

// Appends the canonical form of one field, CRLF included (RFC 6376 sections 3.4.1 and 3.4.2).
void canonicalize_header(Canon canon, std::string_view raw, std::string& out);

// The canonical body (sections 3.4.3 and 3.4.4); for tests and tools. body_hash() streams.
std::string canonicalize_body(Canon canon, std::string_view body);
Digest body_hash(Canon canon, std::string_view body);

std::string_view canon_name(Canon canon);
bool parse_canon(std::string_view name, Canon& out);

}  // namespace txmail::dkim
