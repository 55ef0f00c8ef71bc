#include "api/strict_json.h"

#include <gtest/gtest.h>

namespace txmail::api {
namespace {

// Issue harden-1: {"subject": "a", "subject": "b"} was accepted with "b".
TEST(StrictJson, RefusesAKeyTwiceInOneObject) {
  struct Case {
    const char* text;
    const char* duplicate;  // nullptr: none
  };

  const Case cases[] = {
      {R"({"a": 1, "b": 2})", nullptr},
      {R"({"a": 1, "a": 2})", "a"},
      {R"({"a": {"x": 1}, "b": {"x": 2}})", nullptr},  // the same key in two objects
      {R"({"mail": {"from": 1, "from": 2}})", "mail.from"},
      {R"({"r": [{"e": 1}, {"e": 2, "e": 3}]})", "r[1].e"},
      {R"([{"k": 1}, {"k": 1}])", nullptr},
      {R"({"a\u0062": 1, "ab": 2})", "ab"},  // the same key, escaped once
      {R"({"": 1, "": 2})", ""},
  };
  for (const auto& c : cases) {
    const auto dup = duplicate_key(c.text);
    if (c.duplicate == nullptr) {
      EXPECT_FALSE(dup.has_value()) << c.text << " -> " << dup.value_or("");
    } else {
      ASSERT_TRUE(dup.has_value()) << c.text;
      EXPECT_EQ(*dup, c.duplicate) << c.text;
    }
  }
  const auto parsed = parse_strict_json(R"({"subject": "a", "subject": "b"})");
  EXPECT_NE(parsed.error.find("subject twice"), std::string::npos) << parsed.error;
  EXPECT_TRUE(parse_strict_json(R"({"subject": "a"})").error.empty());
  EXPECT_NE(parse_strict_json("{").error.find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace txmail::api
