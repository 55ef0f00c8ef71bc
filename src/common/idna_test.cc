#include "common/idna.h"

#include <gtest/gtest.h>

namespace txmail::idna {
namespace {

struct AsciiCase {
  const char* in;
  const char* out;  // nullptr: refused
};

TEST(Idna, ToAscii) {
  const AsciiCase cases[] = {
      {"example.org", "example.org"},
      {"Example.ORG", "example.org"},
      {"b\xc3\xbc"
       "cher.test",
       "xn--bcher-kva.test"},
      {"B\xc3\x9c"
       "CHER.test",
       "xn--bcher-kva.test"},  // UTS #46 maps case
      {"xn--bcher-kva.test", "xn--bcher-kva.test"},
      {"XN--BCHER-KVA.test", "xn--bcher-kva.test"},
      {"fa\xc3\x9f.de", "xn--fa-hia.de"},  // non-transitional: sharp s stays
      {"bu\xcc\x88"
       "cher.test",
       "xn--bcher-kva.test"},  // NFC input: u + combining diaeresis
      {"[192.0.2.1]", "[192.0.2.1]"},
      {"\xcc\x81"
       "abc.test",
       nullptr},                 // a label may not begin with a combining mark
      {"xn--zz.test", nullptr},  // not Punycode of anything valid
      {"xn--bcher-xxx.test", nullptr},
      {"", nullptr},
  };
  for (const auto& c : cases) {
    const auto r = to_ascii(c.in);
    if (c.out == nullptr) {
      EXPECT_FALSE(r.has_value()) << c.in << " gave " << r.value_or("");
    } else {
      ASSERT_TRUE(r.has_value()) << c.in << ": " << r.error().detail;
      EXPECT_EQ(*r, c.out) << c.in;
    }
  }
}

TEST(Idna, ToUnicodeForDisplay) {
  EXPECT_EQ(to_unicode("xn--bcher-kva.test"),
            "b\xc3\xbc"
            "cher.test");
  EXPECT_EQ(to_unicode("XN--BCHER-KVA.Test"),
            "b\xc3\xbc"
            "cher.test");
  EXPECT_EQ(to_unicode("example.org"), "example.org");
  EXPECT_EQ(to_unicode("b\xc3\xbc"
                       "cher.test"),
            "b\xc3\xbc"
            "cher.test");
  EXPECT_EQ(to_unicode("xn--zz.test"), "xn--zz.test");  // undecodable: shown as given
}

TEST(Idna, Addresses) {
  EXPECT_EQ(canonical_address("jos\xc3\xa9@b\xc3\xbc"
                              "cher.test")
                .value(),
            "jos\xc3\xa9@xn--bcher-kva.test");
  EXPECT_EQ(canonical_address("Info@Example.ORG").value(), "Info@example.org");
  EXPECT_EQ(canonical_address("\"a@b\"@xn--bcher-kva.test").value(), "\"a@b\"@xn--bcher-kva.test");
  EXPECT_FALSE(canonical_address("a@xn--zz.test").has_value());
  EXPECT_EQ(address_key("a@XN--ZZ.test"), "a@xn--zz.test");
  EXPECT_EQ(display_address("jos\xc3\xa9@xn--bcher-kva.test"),
            "jos\xc3\xa9@b\xc3\xbc"
            "cher.test");
  EXPECT_EQ(display_address("postmaster"), "postmaster");
}

}  // namespace
}  // namespace txmail::idna
