// X-Forwarded-For behind trusted proxies, and the IP ranges that say which proxies are trusted.
// Input: line 1 the trusted ranges (comma-separated), line 2 the peer, the rest the header. The
// client is the peer, or an address of the header that parses whole; an untrusted peer is
// never overridden.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/forwarded.h"
#include "net/cidr.h"

namespace {

std::string_view next_line(std::string_view& in) {
  const std::size_t eol = in.find('\n');
  const std::string_view line = in.substr(0, eol);
  in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view ranges = next_line(in);
  const std::string peer(next_line(in));
  const std::string_view forwarded = in;

  std::vector<txmail::net::Cidr> proxies;
  while (!ranges.empty()) {
    const std::size_t comma = ranges.find(',');
    if (auto c = txmail::net::Cidr::parse(ranges.substr(0, comma))) {
      proxies.push_back(*c);
    }
    ranges = comma == std::string_view::npos ? std::string_view() : ranges.substr(comma + 1);
  }
  bool peer_trusted = false;
  for (const auto& c : proxies) {
    peer_trusted = peer_trusted || c.contains(peer);
  }

  const std::string client = txmail::api::forwarded_client(peer, forwarded, proxies);
  if (client == peer) {
    return 0;
  }
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  if (!peer_trusted || !txmail::net::parse_ip(client, bytes, v4)
      || forwarded.find(client) == std::string_view::npos) {
    __builtin_trap();
  }
  return 0;
}
