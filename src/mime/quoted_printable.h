// Quoted-printable decoding (RFC 2045 section 6.7) of content a REST job sends already encoded
// (contentEncoding "quoted-printable"). Pure: no I/O. The encoder that composes outgoing
// messages is quoted_printable() in compose.h.
#pragma once

#include <string>
#include <string_view>

namespace txmail::mime {

// "=XX" (either case) is the octet XX; "=" before a line break (CR LF, LF or CR) is a soft line
// break and is removed; everything else is copied. False for any other '=': a malformed
// escape or one cut off at the end.
bool decode_quoted_printable(std::string_view in, std::string& out);

}  // namespace txmail::mime
