// Reverse-path and forward-path parsing (RFC 5321 section 4.1.2), with internationalized
// addresses (RFC 6531: UTF-8 in local parts and U-label domains) and address literals.
// Pure: no I/O, no allocation beyond the result. Fuzzed through the command parser.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace txmail::smtp {

struct Mailbox {
  std::string local;   // as sent: a dot-string, or a quoted string with its quotes
  std::string domain;  // a domain (A-labels or U-labels) or an address literal "[...]"
  bool utf8 = false;   // has non-ASCII octets: needs SMTPUTF8 (RFC 6531 section 3.4)

  bool is_null() const { return local.empty() && domain.empty(); }

  std::string address() const { return is_null() ? std::string() : local + "@" + domain; }
};

enum class PathError {
  kSyntax,       // not a path at all
  kLocalPart,    // bad local part
  kDomain,       // bad domain or address literal
  kTooLong,      // RFC 5321 section 4.5.3.1 limits
  kInvalidUtf8,  // non-ASCII octets that are not well-formed UTF-8
};

// Parses "<...>" from the start of `in`; on success `consumed` is the length of the path.
// A null path "<>" is accepted only when allow_null (MAIL FROM).
tl::expected<Mailbox, PathError> parse_path(std::string_view in, bool allow_null,
                                            std::size_t& consumed);

// Parses a bare "local@domain" (no angle brackets), for configuration and tools.
tl::expected<Mailbox, PathError> parse_mailbox(std::string_view in);

bool valid_utf8(std::string_view s);
bool valid_domain(std::string_view d, bool& utf8);

}  // namespace txmail::smtp
