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

TEST(Headers, FieldValuesUnfoldAndFromDomains) {
  const std::string headers =
      "Subject: hi\r\nFROM : \"Shop, Inc.\" <Orders@Shop.Example>\r\nTo: a@b.c\r\n"
      "from: second@x.y\r\n\t(folded)\r\n";
  const auto from = field_values(headers, "From");
  ASSERT_EQ(from.size(), 2U);
  EXPECT_EQ(address_domain(from[0]), "shop.example");
  EXPECT_EQ(from[1], " second@x.y\t(folded)");
  EXPECT_EQ(address_domain(from[1]), "x.y");
  EXPECT_EQ(address_domain(" plain@Example.org (comment)"), "example.org");
  EXPECT_EQ(address_domain(" undisclosed-recipients:;"), "");
  EXPECT_TRUE(field_values(headers, "Cc").empty());
}

}  // namespace
}  // namespace txmail::mime
