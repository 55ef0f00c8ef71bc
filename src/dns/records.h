// The DNS record types txmail asks for and the records it keeps of them (RFC 1035, RFC 7505,
// RFC 6698): plain values, no I/O, shared by the resolvers (resolver.h) and the RDATA decoders
// (rdata.h) so that the decoders build and fuzz without Asio.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace txmail::dns {

enum class RecordType : std::uint16_t { kA = 1, kMx = 15, kTxt = 16, kAaaa = 28, kTlsa = 52 };

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for the null MX (RFC 7505)

  bool operator==(const MxRecord&) const = default;
};

struct TlsaRecord {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t matching = 0;
  std::string data;  // raw association data

  bool operator==(const TlsaRecord&) const = default;
};

std::string_view type_name(RecordType type);
// Drops one trailing dot and gives the A-label form (common/idna.h), lower case.
std::string normalize_name(std::string_view name);

}  // namespace txmail::dns
