// The query parameters of a listing (GET /v2/messages, /v2/reports/deliveries.csv,
// /v2/sandbox/messages): each name at most once and only the names a route knows, numbers
// in decimal. Pure: no I/O.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/problem.h"

namespace txmail::api {

// The parameters of a query string by name (percent-decoded). An unknown or repeated name is
// an error in `errors`; an empty value is no value (a form's empty field): it is left out.
std::map<std::string, std::string> read_query(std::string_view query,
                                              std::initializer_list<std::string_view> allowed,
                                              std::vector<FieldError>& errors);

// A whole decimal number (an optional '-', then digits, nothing else), or nullopt.
std::optional<std::int64_t> whole_number(std::string_view s);

}  // namespace txmail::api
