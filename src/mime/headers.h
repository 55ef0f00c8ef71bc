// Minimal header-section inspection (RFC 5322 section 2.2) for what a submission server must
// add: is a field present in the header section, and the RFC 5322 date format. Pure.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace txmail::mime {

// The header section: everything before the first empty line (or the whole message).
std::string_view header_section(std::string_view message);
// True if a field named `name` (case-insensitive) starts a line of the header section.
bool has_field(std::string_view headers, std::string_view name);
// The values of every field named `name`, unfolded (CRLF removed), in order.
std::vector<std::string> field_values(std::string_view headers, std::string_view name);
// The domain of the first mailbox of a From value ("Name <a@Example.com>" -> "example.com");
// empty when there is none.
std::string address_domain(std::string_view v);
// The addr-spec of a From-like value ("Name <a@b>" → "a@b").
std::string address_of(std::string_view from_value);
// "Fri, 27 Nov 2026 20:55:15 +0000" (RFC 5322 section 3.3).
std::string rfc5322_date(std::chrono::system_clock::time_point t);

}  // namespace txmail::mime
