// JSON request bodies parsed strictly: a key twice in one object is an error, never "the last
// one wins" (issue harden-1: nothing a client sends is silently ignored). Boost.JSON keeps
// the last value, so the keys are checked first by a pass of its SAX parser.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace txmail::api {

struct StrictJson {
  boost::json::value value;
  std::string error;  // empty when it parsed: else what is wrong (a syntax error, a duplicate key)
};

StrictJson parse_strict_json(std::string_view text);

// The first key that appears twice in one object of `text` (JSON assumed well-formed), with
// its object's path ("recipients[0].mail"), or nullopt.
std::optional<std::string> duplicate_key(std::string_view text);

}  // namespace txmail::api
