// 8-bit to 7-bit conversion of a submitted message (RFC 6152 section 3, RFC 2045), run at SMTP
// acceptance before DKIM signing, so that one signature verifies whether the receiving server
// offers 8BITMIME or not: every server gets the same 7-bit bytes. Callers: smtp/server
// (session_data.cc). The REST composer already writes 7-bit and does not need it.
//
// What it does: every leaf MIME part whose body holds 8-bit octets and whose transfer encoding
// is 7bit, 8bit, binary or absent is re-encoded, text/* as quoted-printable (line breaks kept as
// hard breaks), anything else as base64, and its Content-Transfer-Encoding field says so;
// multipart/* parts and message/rfc822 parts are converted part by part. A message without
// MIME fields gets MIME-Version, Content-Type text/plain (charset utf-8 when the body is UTF-8,
// else unknown-8bit, RFC 1428) and the encoding. Header fields are never touched: a message
// with 8-bit header fields (RFC 6532, SMTPUTF8) is left alone, since only an SMTPUTF8 server,
// which also offers 8BITMIME, may receive it. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace txmail::mime {

// True when no octet has its high bit set.
bool seven_bit_clean(std::string_view data);

// The converted message, or nullopt when there is nothing to convert (already 7-bit clean) or
// it cannot be made 7-bit clean (8-bit header fields, 8-bit octets in a part that claims
// base64 or quoted-printable, a multipart without a boundary): such a message is kept as sent.
std::optional<std::string> to_seven_bit(std::string_view message);

}  // namespace txmail::mime
