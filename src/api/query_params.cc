#include "api/query_params.h"

#include <algorithm>
#include <charconv>

#include "api/request_target.h"

namespace txmail::api {

std::map<std::string, std::string> read_query(std::string_view query,
                                              std::initializer_list<std::string_view> allowed,
                                              std::vector<FieldError>& errors) {
  std::map<std::string, std::string> out;
  std::vector<std::string> seen;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    std::string name(pair.substr(0, pair.find('=')));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      errors.push_back({name, "unknown parameter"});
    } else if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      errors.push_back({name, "given more than once"});
    } else {
      if (auto value = query_param(pair, name); !value.empty()) {
        out.emplace(name, std::move(value));
      }
      seen.push_back(std::move(name));
    }
  }
  return out;
}

std::optional<std::int64_t> whole_number(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace txmail::api
