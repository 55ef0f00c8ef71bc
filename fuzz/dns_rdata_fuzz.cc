// The RDATA of answers from DNS servers (strangers: whoever runs a recipient domain's zone).
// The first byte chooses the record type. A decoded name is unambiguous: encoded back to wire
// form it is the (lower-cased) name that was read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dns/rdata.h"

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + 32);
    }
  }
  return out;
}

std::string to_wire(std::string_view name) {
  std::string out;
  while (!name.empty()) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  out.push_back('\0');
  return out;
}

void check_name(std::string_view wire) {
  std::size_t used = 0;
  const auto name = txmail::dns::decode_name(wire, used);
  if (name && (used > wire.size() || to_wire(*name) != lower(wire.substr(0, used)))) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view rdata(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      (void)txmail::dns::decode_a(rdata);
      break;
    case 1:
      (void)txmail::dns::decode_aaaa(rdata);
      break;
    case 2:
      if (const auto mx = txmail::dns::decode_mx(rdata); mx && rdata.size() >= 2) {
        check_name(rdata.substr(2));
      }
      break;
    case 3:
      if (const auto txt = txmail::dns::decode_txt(rdata);
          txt && txt->size() >= rdata.size() && !rdata.empty()) {
        __builtin_trap();  // every character-string costs a length octet
      }
      break;
    case 4:
      (void)txmail::dns::decode_tlsa(rdata);
      break;
    default:
      check_name(rdata);
      break;
  }
  return 0;
}
