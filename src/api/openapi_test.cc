#include "api/openapi.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "api/service.h"

namespace txmail::api {
namespace {

namespace json = boost::json;

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

TEST(OpenApi, DocumentsEveryRouteAndNothingElse) {
  boost::system::error_code ec;
  const json::value doc = json::parse(openapi_document(), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
  const auto& paths = doc.at("paths").as_object();
  std::set<std::string> routed;
  for (const auto& r : routes()) {
    routed.insert(lower(r.method) + " " + r.pattern);
    const auto* item = paths.if_contains(r.pattern);
    ASSERT_NE(item, nullptr) << r.pattern << " is not in openapi.json";
    const auto* operation = item->as_object().if_contains(lower(r.method));
    ASSERT_NE(operation, nullptr) << r.method << " " << r.pattern << " is not in openapi.json";
    EXPECT_TRUE(operation->as_object().contains("responses")) << r.pattern;
  }
  for (const auto& [path, item] : paths) {
    for (const auto& [method, operation] : item.as_object()) {
      if (method == "parameters") {
        continue;
      }
      EXPECT_TRUE(routed.contains(std::string(method) + " " + std::string(path)))
          << method << " " << path << " is documented but not routed";
    }
  }
}

}  // namespace
}  // namespace txmail::api
