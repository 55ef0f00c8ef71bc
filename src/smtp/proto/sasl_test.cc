#include "smtp/proto/sasl.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

using namespace std::string_literals;

TEST(Sasl, PlainResponses) {
  // "\0alice\0secret", "alice\0alice\0pw", "bob\0alice\0pw"
  auto plain = decode_plain_response("AGFsaWNlAHNlY3JldA==");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->authzid, "");
  EXPECT_EQ(plain->user, "alice");
  EXPECT_EQ(plain->password, "secret");
  auto same = decode_plain_response("YWxpY2UAYWxpY2UAcHc=");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->authzid, "alice");
  auto other = decode_plain_response("Ym9iAGFsaWNlAHB3");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->authzid, "bob");
  EXPECT_EQ(other->user, "alice");
  // A password may hold a NUL after the second one.
  auto nul = decode_plain_response("AGEAYgBj");  // "\0a\0b\0c"
  ASSERT_TRUE(nul);
  EXPECT_EQ(nul->password, "b\0c"s);
}

TEST(Sasl, PlainRefusals) {
  const struct {
    const char* response;
    SaslError error;
  } cases[] = {
      {"====", SaslError::kUndecodable},  // issue harden-1, defect 1
      {"not base64!", SaslError::kUndecodable},
      {"YWxpY2U", SaslError::kUndecodable},  // length not a multiple of 4
      {"=", SaslError::kMalformed},          // the empty response
      {"YWxpY2U=", SaslError::kMalformed},   // "alice": no NUL
      {"AGFsaWNl", SaslError::kMalformed},   // "\0alice": one NUL
  };

  for (const auto& c : cases) {
    auto r = decode_plain_response(c.response);
    ASSERT_FALSE(r) << c.response;
    EXPECT_EQ(r.error(), c.error) << c.response;
  }
}

TEST(Sasl, LoginResponses) {
  EXPECT_EQ(decode_login_response("YWxpY2U="), "alice");
  EXPECT_EQ(decode_login_response(""), "");
  EXPECT_FALSE(decode_login_response("===="));
  EXPECT_FALSE(decode_login_response("*"));
}

}  // namespace
}  // namespace txmail::smtp
