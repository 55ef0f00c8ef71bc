#include "api/request_target.h"

#include <gtest/gtest.h>

namespace txmail::api {
namespace {

TEST(RequestTarget, DecodePath) {
  const struct {
    const char* in;
    bool ok;
    const char* out;
  } cases[] = {
      {"/v2/jobs/abc", true, "/v2/jobs/abc"},
      {"/v2/suppressions/a%40b.example", true, "/v2/suppressions/a@b.example"},
      {"/a%2fb", true, "/a/b"},
      {"/a%4", false, ""},  // cut off
      {"/a%", false, ""},
      {"/a%zz", false, ""},  // not hex
      {"/a%00", false, ""},  // encoded NUL
      {"/a%0D%0A", false, ""},
  };

  for (const auto& c : cases) {
    std::string out;
    EXPECT_EQ(decode_path(c.in, out), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(out, c.out) << c.in;
    }
  }
}

TEST(RequestTarget, QueryParam) {
  EXPECT_EQ(query_param("limit=10&cursor=a%20b+c", "cursor"), "a b c");
  EXPECT_EQ(query_param("limit=10&cursor=x", "limit"), "10");
  EXPECT_EQ(query_param("limit", "limit"), "");
  EXPECT_EQ(query_param("a=1", "limit"), "");
  EXPECT_EQ(query_param("a=%zz%4", "a"), "%zz%4");  // malformed escapes stay as they are
  EXPECT_EQ(query_param("", "a"), "");
}

// An address with '+', '&', '#', '%' and a space comes back whole from a link made with it.
TEST(RequestTarget, PercentEncodeRoundTrips) {
  for (const std::string v : {"a+b@x.org", "a&limit=1#x@y.org", "100%@y.org", "a b@c", "plain"}) {
    EXPECT_EQ(query_param("after=" + percent_encode(v) + "&limit=2", "after"), v) << v;
    std::string path;
    ASSERT_TRUE(decode_path("/v2/suppressions/" + percent_encode(v), path)) << v;
    EXPECT_EQ(path, "/v2/suppressions/" + v);
  }
  EXPECT_EQ(percent_encode("a+b@x.org"), "a%2Bb%40x.org");
}

TEST(RequestTarget, MatchRoute) {
  auto m = match_route("/v2/jobs/{id}", "/v2/jobs/j-1");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, std::vector<std::string>{"j-1"});
  EXPECT_TRUE(match_route("/v2/jobs/{id}", "//v2//jobs/j-1/"));  // empty segments ignored
  EXPECT_FALSE(match_route("/v2/jobs/{id}", "/v2/jobs"));
  EXPECT_FALSE(match_route("/v2/jobs/{id}", "/v2/jobs/a/b"));
  EXPECT_FALSE(match_route("/v2/jobs", "/v2/Jobs"));
  auto none = match_route("/healthz", "/healthz");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace txmail::api
