// The pieces of a MIME entity (RFC 2045, 2046) that the readers of messages share: the header
// section and the body, a field's first value, a Content-Type's media type and parameters, and
// the parts of a multipart body. Pure; every view points into the caller's text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace txmail::mime {

struct Entity {
  std::string_view headers;  // every field line with its CRLF; empty when there is none
  std::string_view body;
};

Entity split_entity(std::string_view e);

std::string lower(std::string_view s);
std::string_view trim(std::string_view s);  // spaces and tabs at both ends

// The first value of a field, unfolded and trimmed, or "" when the field is absent.
std::string first_value(std::string_view headers, std::string_view name);

// The media type of a Content-Type value, lower case ("text/plain").
std::string media_type(std::string_view content_type);

// A parameter of a Content-Type value (RFC 2045 section 5.1), unquoted; "" when absent. The
// name is compared in lower case: pass it in lower case.
std::string parameter(std::string_view content_type, std::string_view name);

// One delimiter line of a multipart body: where it starts, where its line ends (after the
// CRLF), and whether it closes the multipart.
struct Delimiter {
  std::size_t start;
  std::size_t end;
  bool close;
};

std::vector<Delimiter> delimiters(std::string_view body, std::string_view boundary);

// The body parts of a multipart body, each without its delimiter line and without the CRLF
// that belongs to the next delimiter (RFC 2046 section 5.1.1); none without a delimiter.
std::vector<std::string_view> body_parts(std::string_view body, std::string_view boundary);

}  // namespace txmail::mime
