// Decoding of the RDATA of the record types txmail uses (RFC 1035 section 3.3, RFC 3596,
// RFC 6698). Pure; names inside RDATA are read in uncompressed wire form, as resolvers hand
// them out. Every decoder checks lengths and refuses what does not fit.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dns/records.h"

namespace txmail::dns {

std::optional<std::string> decode_a(std::string_view rdata);
std::optional<std::string> decode_aaaa(std::string_view rdata);
std::optional<MxRecord> decode_mx(std::string_view rdata);
std::optional<std::string> decode_txt(std::string_view rdata);
std::optional<TlsaRecord> decode_tlsa(std::string_view rdata);
// A wire-format name ("\x07example\x03org\x00") as "example.org" (lower case); "" for the root;
// nullopt for a label holding a dot (it has no text form).
std::optional<std::string> decode_name(std::string_view wire, std::size_t& consumed);

}  // namespace txmail::dns
