// Building an RFC 5322 / MIME message from the parts of a REST job (issue core-4, item 4).
// Pure: no I/O. The caller validates addresses, header names and that no value holds CR or LF
// (header_safe()); compose() then only encodes:
//   - multipart/alternative for text and HTML, multipart/related for inline parts (with a
//     Content-ID), multipart/mixed for attachments;
//   - text as 7bit when it is ASCII with short lines, else quoted-printable, or base64 when
//     most of it is not ASCII; attachments as base64; every line at most 78 octets where the
//     encoding allows, never over 998;
//   - RFC 2047 encoded words for non-ASCII header text, RFC 2231 for non-ASCII or long file
//     names; Bcc never appears.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace txmail::mime {

struct Mailbox {
  std::string name;     // display name, UTF-8; may be empty
  std::string address;  // addr-spec, ASCII
};

struct Attachment {
  std::string name;          // file name, UTF-8
  std::string content_type;  // "application/pdf"; validated type/subtype
  std::string data;          // the bytes
  std::string content_id;    // non-empty: an inline part, referenced as cid:<content_id>
};

enum class Priority { kNone, kHigh, kNormal, kLow };

struct Composition {
  Mailbox from;
  std::vector<Mailbox> to;
  std::vector<Mailbox> cc;
  std::vector<Mailbox> reply_to;
  std::string in_reply_to;  // a msg-id, with or without the angle brackets
  std::string subject;      // UTF-8
  std::string text;         // text/plain, UTF-8 (empty: none)
  std::string html;         // text/html, UTF-8 (empty: none)
  std::vector<Attachment> attachments;
  std::vector<std::pair<std::string, std::string>> extra_headers;  // name, UTF-8 value
  Priority priority = Priority::kNone;
  std::string list_unsubscribe;         // a URL (https:, mailto:); https adds one-click (RFC 8058)
  std::string list_unsubscribe_mailto;  // a second URL (mailto:) after it; "": none
  std::string message_id;               // without angle brackets
  std::chrono::system_clock::time_point date;
};

std::string compose(const Composition& c);

// False when the value would break out of its header field (CR, LF or NUL).
bool header_safe(std::string_view value);
// A field name of printable ASCII without ':' (RFC 5322 section 2.2), 1 to 76 characters.
bool valid_field_name(std::string_view name);

// The pieces, exposed for tests.
std::string encode_words(std::string_view utf8, std::size_t first_line_used);
std::string quoted_printable(std::string_view data);
std::string base64_lines(std::string_view data);
std::string format_mailbox(const Mailbox& m);
// Line breaks as CRLF whatever the input used (LF, CR LF or a lone CR).
std::string crlf_lines(std::string_view text);

}  // namespace txmail::mime
