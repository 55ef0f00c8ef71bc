// The request target of an API request: the path percent-decoded, query parameters and route
// matching. The first line is the target, the second a route pattern. A decoded path never
// grows, and holds NUL, CR or LF only where the target did (the HTTP parser refuses raw ones
// before this); a path always matches itself as a pattern.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/request_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t eol = in.find('\n');
  const std::string_view target = in.substr(0, eol);
  const std::string_view pattern =
      eol == std::string_view::npos ? std::string_view("/v2/jobs/{id}") : in.substr(eol + 1);
  const std::size_t q = target.find('?');
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  std::string path;
  if (txmail::api::decode_path(target.substr(0, q), path)) {
    const std::string_view controls("\0\r\n", 3);
    if (path.size() > target.size()
        || (path.find_first_of(controls) != std::string::npos
            && target.find_first_of(controls) == std::string_view::npos)) {
      __builtin_trap();
    }
    (void)txmail::api::match_route(pattern, path);
    if (path.find('{') == std::string::npos) {
      const auto self = txmail::api::match_route(path, path);
      if (!self || !self->empty()) {
        __builtin_trap();
      }
    }
  }
  for (const char* name : {"limit", "cursor", "since", "state", ""}) {
    if (txmail::api::query_param(query, name).size() > query.size()) {
      __builtin_trap();
    }
  }
  return 0;
}
