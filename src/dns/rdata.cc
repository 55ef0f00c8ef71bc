#include "dns/rdata.h"

#include <arpa/inet.h>

#include "common/idna.h"

namespace txmail::dns {

std::string_view type_name(RecordType type) {
  switch (type) {
    case RecordType::kA:
      return "A";
    case RecordType::kMx:
      return "MX";
    case RecordType::kTxt:
      return "TXT";
    case RecordType::kAaaa:
      return "AAAA";
    case RecordType::kTlsa:
      return "TLSA";
  }
  return "?";
}

std::string normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  // U-labels never reach DNS: every name looked up, cached, routed or matched is the A-label
  // form. A name that is not a valid IDN is kept (lower case) and fails as "no such domain".
  if (auto ascii = idna::to_ascii(name)) {
    return std::move(*ascii);
  }
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + 32);
    }
  }
  return out;
}

std::optional<std::string> decode_a(std::string_view rdata) {
  if (rdata.size() != 4) {
    return std::nullopt;
  }
  char buf[INET_ADDRSTRLEN];
  if (inet_ntop(AF_INET, rdata.data(), buf, sizeof buf) == nullptr) {
    return std::nullopt;
  }
  return std::string(buf);
}

std::optional<std::string> decode_aaaa(std::string_view rdata) {
  if (rdata.size() != 16) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf) == nullptr) {
    return std::nullopt;
  }
  return std::string(buf);
}

std::optional<std::string> decode_name(std::string_view wire, std::size_t& consumed) {
  std::string name;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const auto len = static_cast<unsigned char>(wire[pos]);
    if (len == 0) {
      consumed = pos + 1;
      // Names on the wire are octets (A-labels), never converted: ASCII lower case only.
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c - 'A' + 'a');
        }
      }
      return name;
    }
    if (len > 63 || pos + 1 + len > wire.size()) {
      return std::nullopt;  // compression pointers do not appear in resolver-decoded RDATA
    }
    const std::string_view label = wire.substr(pos + 1, len);
    if (label.find('.') != std::string_view::npos) {
      return std::nullopt;  // no text form: it would read as two labels (or a trailing dot)
    }
    if (!name.empty()) {
      name.push_back('.');
    }
    name.append(label);
    pos += 1 + len;
    if (name.size() > 253) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<MxRecord> decode_mx(std::string_view rdata) {
  if (rdata.size() < 3) {
    return std::nullopt;
  }
  MxRecord mx;
  mx.preference = static_cast<std::uint16_t>((static_cast<unsigned char>(rdata[0]) << 8)
                                             | static_cast<unsigned char>(rdata[1]));
  std::size_t used = 0;
  auto name = decode_name(rdata.substr(2), used);
  if (!name || used != rdata.size() - 2) {
    return std::nullopt;
  }
  mx.exchange = std::move(*name);
  return mx;
}

std::optional<std::string> decode_txt(std::string_view rdata) {
  std::string out;
  std::size_t pos = 0;
  while (pos < rdata.size()) {
    const auto len = static_cast<unsigned char>(rdata[pos]);
    if (pos + 1 + len > rdata.size()) {
      return std::nullopt;
    }
    out.append(rdata.substr(pos + 1, len));
    pos += 1 + len;
  }
  return out;
}

std::optional<TlsaRecord> decode_tlsa(std::string_view rdata) {
  if (rdata.size() < 4) {
    return std::nullopt;
  }
  return TlsaRecord{static_cast<std::uint8_t>(rdata[0]), static_cast<std::uint8_t>(rdata[1]),
                    static_cast<std::uint8_t>(rdata[2]), std::string(rdata.substr(3))};
}

}  // namespace txmail::dns
