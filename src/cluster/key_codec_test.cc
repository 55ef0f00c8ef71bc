#include "cluster/key_codec.h"

#include <gtest/gtest.h>

namespace txmail::cluster {
namespace {

TEST(KeyCodec, KeepsSafeBytesAndEscapesTheRest) {
  EXPECT_EQ(encode_key("account/acme_1-x"), "account/acme_1-x");
  EXPECT_EQ(encode_key("domain/example.com"), "domain/example=2Ecom");
  EXPECT_EQ(encode_key("suppress/*/a+b@x.org"), "suppress/=2A/a=2Bb=40x=2Eorg");
  EXPECT_EQ(encode_key("="), "=3D");
  EXPECT_EQ(encode_key(std::string("\xff\x00", 2)), "=FF=00");
}

TEST(KeyCodec, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  const std::string code = encode_key(all);
  for (const char c : code) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '/' || c == '_'
                || c == '=')
        << "byte " << static_cast<int>(c);
  }
  EXPECT_EQ(decode_key(code), all);
}

TEST(KeyCodec, KeepsPrefixes) {
  const std::string code = encode_key("domain/a.example");
  EXPECT_TRUE(code.starts_with(encode_key("domain/")));
  EXPECT_TRUE(code.starts_with(encode_key("domain/a.")));
}

TEST(KeyCodec, RefusesWhatItNeverWrites) {
  EXPECT_FALSE(decode_key("a.b"));   // '.' is always escaped
  EXPECT_FALSE(decode_key("a=2"));   // cut short
  EXPECT_FALSE(decode_key("a=2e"));  // lower-case hex
  EXPECT_FALSE(decode_key("=41"));   // 'A' is kept, never escaped
  EXPECT_FALSE(decode_key("a=ZZ"));
  EXPECT_EQ(decode_key("a=2Eb"), "a.b");
}

}  // namespace
}  // namespace txmail::cluster
