#include "mime/headers.h"

#include <gtest/gtest.h>

namespace txmail::mime {
namespace {

TEST(Headers, SectionAndFields) {
  const std::string msg =
      "From: a@b.example\r\nmessage-id: <x@y>\r\nSubject: Date: not a field\r\n\r\nDate: body\r\n";
  const auto h = header_section(msg);
  EXPECT_TRUE(has_field(h, "Message-ID"));
  EXPECT_TRUE(has_field(h, "from"));
  EXPECT_FALSE(has_field(h, "Date"));  // only in the body and inside another field
  EXPECT_FALSE(has_field(h, "Subj"));
  EXPECT_EQ(header_section("\r\nbody"), "");
  EXPECT_TRUE(has_field(header_section("Date: x"), "Date"));
}

TEST(Headers, Rfc5322Date) {
  const auto t = std::chrono::system_clock::from_time_t(1'795'813'315);  // 2026-11-27 21:01:55 UTC
  EXPECT_EQ(rfc5322_date(t), "Fri, 27 Nov 2026 21:01:55 +0000");
}

}  // namespace
}  // namespace txmail::mime
