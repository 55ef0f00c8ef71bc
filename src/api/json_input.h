// Strict reading of request JSON: every invalid field is reported with its path, and a key the
// endpoint does not know is an error too (no silent ignoring). A present key must have content:
// null and "" are refused, as the service txmail is modelled on does.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "api/problem.h"
#include "api/strict_json.h"

namespace txmail::api {

class JsonObject {
 public:
  JsonObject(const boost::json::object& o, std::string path, std::vector<FieldError>& errors)
      : o_(o), path_(std::move(path)), errors_(errors) {}

  // The path of a member ("recipients[0].mail"); top level: the key itself.
  std::string at(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  void error(std::string_view key, std::string message) {
    add(errors_, at(key), std::move(message));
  }

  // At most kMaxErrors errors are listed (a request of a million bad fields gets a short answer).
  static constexpr std::size_t kMaxErrors = 100;

  static void add(std::vector<FieldError>& errors, std::string path, std::string message) {
    if (errors.size() < kMaxErrors) {
      errors.push_back(FieldError{std::move(path), std::move(message)});
    } else if (errors.size() == kMaxErrors) {
      errors.push_back(FieldError{"", "more errors are not listed"});
    }
  }

  // The member, marked as known; nullptr when absent. null is refused.
  const boost::json::value* get(std::string_view key) {
    known_.insert(std::string(key));
    const auto* v = o_.if_contains(key);
    if (v != nullptr && v->is_null()) {
      error(key, "must not be null");
      return nullptr;
    }
    return v;
  }

  std::optional<std::string> string(std::string_view key, bool required, std::size_t max_chars) {
    const auto* v = get(key);
    if (v == nullptr) {
      if (required) {
        error(key, "is required");
      }
      return std::nullopt;
    }
    if (!v->is_string()) {
      error(key, "must be a string");
      return std::nullopt;
    }
    std::string s(v->as_string());
    if (s.empty()) {
      error(key, "must not be empty");
      return std::nullopt;
    }
    if (utf8_chars(s) > max_chars) {
      error(key, "is longer than " + std::to_string(max_chars) + " characters");
      return std::nullopt;
    }
    return s;
  }

  std::optional<bool> boolean(std::string_view key) {
    const auto* v = get(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_bool()) {
      error(key, "must be true or false");
      return std::nullopt;
    }
    return v->as_bool();
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const auto* v = get(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
      error(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return v->as_int64();
  }

  std::optional<JsonObject> object(std::string_view key, bool required = false) {
    const auto* v = get(key);
    if (v == nullptr) {
      if (required) {
        error(key, "is required");
      }
      return std::nullopt;
    }
    if (!v->is_object()) {
      error(key, "must be an object");
      return std::nullopt;
    }
    return JsonObject(v->as_object(), at(key), errors_);
  }

  const boost::json::array* array(std::string_view key, bool required = false) {
    const auto* v = get(key);
    if (v == nullptr) {
      if (required) {
        error(key, "is required");
      }
      return nullptr;
    }
    if (!v->is_array()) {
      error(key, "must be an array");
      return nullptr;
    }
    return &v->as_array();
  }

  // An array element that must be an object.
  std::optional<JsonObject> element(std::string_view key, const boost::json::value& v,
                                    std::size_t i) {
    const std::string p = at(key) + "[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      add(errors_, p, "must be an object");
      return std::nullopt;
    }
    return JsonObject(v.as_object(), p, errors_);
  }

  // Reports every key that was never asked for.
  void finish() {
    for (const auto& kv : o_) {
      if (!known_.contains(std::string(kv.key()))) {
        error(kv.key(), "is not a known field");
      }
    }
  }

  const boost::json::object& raw() const { return o_; }

  std::vector<FieldError>& errors() { return errors_; }

  static std::size_t utf8_chars(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) {
      n += (c & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
  }

 private:
  const boost::json::object& o_;
  std::string path_;
  std::vector<FieldError>& errors_;
  std::set<std::string> known_;
};

// The JSON object of a small request body (settings, not jobs), or the problem to answer:
// 413 over `max` bytes, 400 when it is not a JSON object.
inline std::variant<boost::json::object, Response> body_object(const Request& r,
                                                               std::size_t max = std::size_t{64}
                                                                                 * 1024) {
  if (r.body.size() > max) {
    return problem(413, "Content Too Large",
                   "the request body is over " + std::to_string(max / 1024) + " KiB");
  }
  auto parsed = parse_strict_json(r.body);
  if (!parsed.error.empty()) {
    return problem(400, "Bad Request", parsed.error);
  }
  if (!parsed.value.is_object()) {
    return problem(400, "Bad Request", "the body must be a JSON object");
  }
  return std::move(parsed.value.as_object());
}

}  // namespace txmail::api
