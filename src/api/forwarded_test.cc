#include "api/forwarded.h"

#include <gtest/gtest.h>

namespace txmail::api {
namespace {

TEST(ForwardedClient, BelievesOnlyTrustedProxies) {
  const std::vector<net::Cidr> proxies = {*net::Cidr::parse("10.0.0.0/8"),
                                          *net::Cidr::parse("2001:db8::/32")};

  const struct {
    const char* peer;
    const char* forwarded;
    const char* client;
  } cases[] = {
      {"192.0.2.7", "198.51.100.1", "192.0.2.7"},  // not a proxy: its header is ignored
      {"10.0.0.1", "", "10.0.0.1"},
      {"10.0.0.1", "198.51.100.1", "198.51.100.1"},
      {"10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"},     // the client made up 6.6.6.6
      {"10.0.0.1", "198.51.100.1 ,\t10.0.0.2", "198.51.100.1"},  // through two proxies
      {"10.0.0.1", "198.51.100.1,garbage", "10.0.0.1"},          // not an address: stop there
      {"10.0.0.1", "10.0.0.3,10.0.0.2", "10.0.0.3"},             // only proxies: the first of them
      {"2001:db8::1", "2001:db8::2, ::ffff:192.0.2.9", "::ffff:192.0.2.9"},
      {"10.0.0.1", ",", "10.0.0.1"},
  };

  for (const auto& c : cases) {
    EXPECT_EQ(forwarded_client(c.peer, c.forwarded, proxies), c.client)
        << c.peer << " / " << c.forwarded;
  }
  EXPECT_EQ(forwarded_client("10.0.0.1", "198.51.100.1", {}), "10.0.0.1");
}

}  // namespace
}  // namespace txmail::api
