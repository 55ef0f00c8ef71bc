#include "api/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <set>
#include <vector>

namespace txmail::api {

namespace {

namespace json = boost::json;
using boost::system::error_code;

// Remembers the keys of every object open on the way down; stops at the first repeated one.
// The limit names are Boost.JSON's (a basic_parser handler must declare them).
struct KeyChecker {
  // NOLINTBEGIN(readability-identifier-naming)
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  // NOLINTEND(readability-identifier-naming)

  struct Level {
    bool object = false;
    std::set<std::string> keys;
    std::string name;  // this level's place in its parent: ".key" or "[i]"
    std::size_t index = 0;
  };

  std::vector<Level> stack;
  std::string key;
  std::string pending;  // the next value's name in its parent
  std::optional<std::string> duplicate;

  std::string path() const {
    std::string p;
    for (std::size_t i = 1; i < stack.size(); ++i) {
      p += stack[i].name;
    }
    return p.starts_with(".") ? p.substr(1) : p;
  }

  void value_name() {
    if (stack.empty()) {
      pending.clear();
    } else if (!stack.back().object) {
      pending = "[" + std::to_string(stack.back().index++) + "]";
    }
  }

  bool open(bool object) {
    value_name();
    stack.push_back(Level{object, {}, pending, 0});
    return true;
  }

  bool scalar() {
    value_name();
    return true;
  }

  bool on_document_begin(error_code&) { return true; }

  bool on_document_end(error_code&) { return true; }

  bool on_object_begin(error_code&) { return open(true); }

  bool on_object_end(std::size_t, error_code&) {
    stack.pop_back();
    return true;
  }

  bool on_array_begin(error_code&) { return open(false); }

  bool on_array_end(std::size_t, error_code&) {
    stack.pop_back();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    key.append(s.data(), s.size());
    return true;
  }

  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    key.append(s.data(), s.size());
    if (!stack.back().keys.insert(key).second) {
      const std::string where = path();
      duplicate = (where.empty() ? "" : where + ".") + key;
      ec = json::error::syntax;
      return false;
    }
    pending = "." + key;
    key.clear();
    return true;
  }

  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }

  bool on_string(json::string_view, std::size_t, error_code&) { return scalar(); }

  bool on_number_part(json::string_view, error_code&) { return true; }

  bool on_int64(std::int64_t, json::string_view, error_code&) { return scalar(); }

  bool on_uint64(std::uint64_t, json::string_view, error_code&) { return scalar(); }

  bool on_double(double, json::string_view, error_code&) { return scalar(); }

  bool on_bool(bool, error_code&) { return scalar(); }

  bool on_null(error_code&) { return scalar(); }

  bool on_comment_part(json::string_view, error_code&) { return true; }

  bool on_comment(json::string_view, error_code&) { return true; }
};

}  // namespace

std::optional<std::string> duplicate_key(std::string_view text) {
  json::basic_parser<KeyChecker> p(json::parse_options{});
  error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  return p.handler().duplicate;
}

StrictJson parse_strict_json(std::string_view text) {
  StrictJson out;
  error_code ec;
  out.value = json::parse(text, ec);
  if (ec) {
    out.error = "the body is not valid JSON: " + ec.message();
    return out;
  }
  if (auto dup = duplicate_key(text)) {
    out.error = "the body has the key " + *dup + " twice";
  }
  return out;
}

}  // namespace txmail::api
