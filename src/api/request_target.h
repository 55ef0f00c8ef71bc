// The request target of an API request (RFC 9110 section 7.1, RFC 3986 section 2.1): the path
// percent-decoded, query parameters, and the match of a path against a route pattern. Pure: no
// I/O, so the HTTP server, the service and the fuzz target share it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace txmail::api {

// Percent-decodes a path; false for a malformed escape or an encoded NUL, CR or LF.
bool decode_path(std::string_view in, std::string& out);

// The percent-decoded value of a query parameter ("" when absent); '+' is a space.
std::string query_param(std::string_view query, std::string_view name);

// `value` percent-encoded for a path segment or a query parameter: every byte but the
// unreserved ones (RFC 3986 section 2.3) as %XX; query_param() gives it back as it was.
std::string percent_encode(std::string_view value);

// The values of the pattern's {parameters} ("/v2/jobs/{id}"), or nullopt when the path does
// not match. Empty segments (repeated slashes) are ignored on both sides.
std::optional<std::vector<std::string>> match_route(std::string_view pattern,
                                                    std::string_view path);

}  // namespace txmail::api
