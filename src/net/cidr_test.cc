#include "net/cidr.h"

#include <gtest/gtest.h>

namespace txmail::net {
namespace {

TEST(Cidr, Matches) {
  struct Case {
    const char* range;
    const char* address;
    bool in;
  };

  const Case cases[] = {
      {"127.0.0.2/32", "127.0.0.2", true},
      {"127.0.0.2/32", "127.0.0.1", false},
      {"127.0.0.2", "127.0.0.2", true},
      {"10.0.0.0/8", "10.200.1.1", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"192.0.2.128/25", "192.0.2.200", true},
      {"192.0.2.128/25", "192.0.2.100", false},
      {"0.0.0.0/0", "8.8.8.8", true},
      {"2001:db8::/32", "2001:db8:1::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"127.0.0.0/8", "::ffff:127.0.0.5", true},
      {"::1/128", "::1", true},
      {"127.0.0.0/8", "::1", false},
  };
  for (const auto& c : cases) {
    auto cidr = Cidr::parse(c.range);
    ASSERT_TRUE(cidr) << c.range;
    EXPECT_EQ(cidr->contains(c.address), c.in) << c.range << " " << c.address;
  }
}

TEST(Cidr, RefusesGarbage) {
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4/33", "1.2.3.4/-1", "::1/129", "host.example", "1.2.3.4/"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
  // inet_pton stops at a NUL: what comes before it must not pass for the whole.
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  EXPECT_FALSE(parse_ip(std::string_view("10.0.0.1\0junk", 13), bytes, v4));
  EXPECT_FALSE(Cidr::parse(std::string_view("10.0.0.0\0/8", 11)));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/8")->contains(std::string_view("10.0.0.1\0", 9)));
}

}  // namespace
}  // namespace txmail::net

#include "net/http_url.h"

namespace txmail::net {
namespace {

TEST(HttpUrl, Parts) {
  auto a = parse_http_url("https://hooks.example.org/in?x=1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->host, "hooks.example.org");
  EXPECT_EQ(a->port, "443");
  EXPECT_EQ(a->target, "/in?x=1");
  auto b = parse_http_url("http://[::1]:8080");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, "8080");
  EXPECT_EQ(b->target, "/");
  EXPECT_FALSE(parse_http_url("ftp://x"));
  EXPECT_FALSE(parse_http_url("http://user@host/"));
  EXPECT_FALSE(parse_http_url("http://host:80x/"));
  EXPECT_FALSE(parse_http_url("http:///path"));
}

}  // namespace
}  // namespace txmail::net
