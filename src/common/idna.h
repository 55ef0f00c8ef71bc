// Internationalized domain names (RFC 5890-5893, UTS #46): the one place where a domain gets
// its canonical form. Every domain that reaches DNS, the MX plan, routes, suppression keys,
// sender domain lookups or the event log is the A-label form this module gives (ASCII, lower
// case); the U-label form is for display only. Callers: SMTP intake (RCPT/MAIL), the REST API,
// the delivery engine, the suppression list, the event log and the command line tools.
// Conversion is libidn2's UTS #46 non-transitional processing with NFC input (so "ß" stays
// "ß", as browsers and registries do today). Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace txmail::idna {

bool is_ascii(std::string_view s);

// The A-label form of a domain name, lower case. An address literal ("[...]") is returned
// unchanged. kInvalidArgument names why a domain is not a valid IDN.
[[nodiscard]] Result<std::string> to_ascii(std::string_view domain);

// The U-label form of a domain for display; what cannot be converted is returned as given
// (lower case), never an error: display must not fail.
std::string to_unicode(std::string_view domain);

// "local@domain" with the domain in A-label form; the local part is kept as it is (its case
// and UTF-8 belong to the receiving system, RFC 5321 section 2.4). An address without '@' is
// returned unchanged.
[[nodiscard]] Result<std::string> canonical_address(std::string_view address);
// canonical_address() when it succeeds, else the address with its domain in lower case: for
// keys built from addresses that intake already checked.
std::string address_key(std::string_view address);
// "local@domain" with the domain in U-label form, for display.
std::string display_address(std::string_view address);

}  // namespace txmail::idna
