#include "mime/quoted_printable.h"

#include <gtest/gtest.h>

#include "mime/compose.h"

namespace txmail::mime {
namespace {

TEST(QuotedPrintable, Decode) {
  const struct {
    const char* in;
    bool ok;
    const char* out;
  } cases[] = {
      {"caf=C3=A9", true, "caf\xC3\xA9"},
      {"caf=c3=a9", true, "caf\xC3\xA9"},  // lower-case hex is read too
      {"soft=\r\nbreak", true, "softbreak"},
      {"soft=\nbreak=\rend", true, "softbreakend"},  // LF or CR alone as the line break
      {"a=3D=20b\r\nc", true, "a= b\r\nc"},
      {"", true, ""},
      {"=ZZ", false, ""},
      {"cut off =4", false, ""},
      {"end =", false, ""},
  };

  for (const auto& c : cases) {
    std::string out;
    EXPECT_EQ(decode_quoted_printable(c.in, out), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(out, c.out) << c.in;
    }
  }
}

TEST(QuotedPrintable, EncoderRoundTrips) {
  const std::string text = std::string(300, 'x') + " =\t\r\nline\rbare\nlf \xC3\xA9 \r\n";
  std::string back;
  ASSERT_TRUE(decode_quoted_printable(quoted_printable(text), back));
  EXPECT_EQ(back, text);
}

}  // namespace
}  // namespace txmail::mime
