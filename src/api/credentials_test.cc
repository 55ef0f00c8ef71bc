#include "api/credentials.h"

#include <gtest/gtest.h>

namespace txmail::api {
namespace {

using Scheme = Credentials::Scheme;

TEST(Credentials, ReadsEachScheme) {
  EXPECT_EQ(read_credentials("").scheme, Scheme::kNone);

  const Credentials bearer = read_credentials("bEaReR tok:en");
  EXPECT_EQ(bearer.scheme, Scheme::kBearer);
  EXPECT_EQ(bearer.secret, "tok:en");

  // "acme:pass:word": the user name ends at the first colon, the password keeps the rest.
  const Credentials basic = read_credentials("Basic YWNtZTpwYXNzOndvcmQ=");
  EXPECT_EQ(basic.scheme, Scheme::kBasic);
  EXPECT_EQ(basic.user, "acme");
  EXPECT_EQ(basic.secret, "pass:word");

  const Credentials empty_password = read_credentials("basic YWNtZTo=");  // "acme:"
  EXPECT_EQ(empty_password.scheme, Scheme::kBasic);
  EXPECT_EQ(empty_password.user, "acme");
  EXPECT_EQ(empty_password.secret, "");

  EXPECT_EQ(read_credentials("Digest username=x").scheme, Scheme::kUnsupported);
  EXPECT_EQ(read_credentials("Basic").scheme, Scheme::kUnsupported);  // no space, no token
}

TEST(Credentials, RefusesBrokenBasic) {
  for (const char* header : {"Basic ====", "Basic YWNtZQ==", "Basic !!!!", "Basic ", "Basic ="}) {
    EXPECT_EQ(read_credentials(header).scheme, Scheme::kMalformed) << header;
  }
}

}  // namespace
}  // namespace txmail::api
