#include "mime/seven_bit.h"

#include <gtest/gtest.h>

#include "mime/quoted_printable.h"

namespace txmail::mime {
namespace {

const std::string kUmlauts =
    "Gr\xc3\xbc\xc3\x9f"
    "e aus K\xc3\xb6ln";

TEST(SevenBit, CleanMessageIsLeftAlone) {
  EXPECT_FALSE(to_seven_bit("Subject: x\r\n\r\nplain\r\n").has_value());
}

TEST(SevenBit, SinglePartTextBecomesQuotedPrintable) {
  const std::string m =
      "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\n"
      + kUmlauts + "\r\n";
  const auto out = to_seven_bit(m);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(seven_bit_clean(*out));
  EXPECT_EQ(out->find("8bit"), std::string::npos);
  EXPECT_NE(out->find("Content-Transfer-Encoding: quoted-printable\r\n\r\n"), std::string::npos);
  std::string body;
  ASSERT_TRUE(decode_quoted_printable(out->substr(out->find("\r\n\r\n") + 4), body));
  EXPECT_EQ(body, kUmlauts + "\r\n");
}

TEST(SevenBit, MessageWithoutMimeFieldsGetsThem) {
  const auto out = to_seven_bit("Subject: x\r\n\r\n" + kUmlauts + "\r\n");
  ASSERT_TRUE(out.has_value());
  EXPECT_NE(out->find("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"),
            std::string::npos);
  const auto latin1 = to_seven_bit("Subject: x\r\n\r\nK\xf6ln\r\n");
  ASSERT_TRUE(latin1.has_value());
  EXPECT_NE(latin1->find("charset=unknown-8bit"), std::string::npos);
}

TEST(SevenBit, MultipartPartsAreConvertedOneByOne) {
  const std::string m =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
      "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + kUmlauts +
      "\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
      "\r\n\xff\xfe\x01\r\n--b1\r\nContent-Type: text/plain\r\n\r\nascii\r\n--b1--\r\nepilogue\r\n";
  const auto out = to_seven_bit(m);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(seven_bit_clean(*out));
  EXPECT_NE(out->find("Content-Type: application/octet-stream\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\n//4B\r\n--b1\r\n"),
            std::string::npos);
  EXPECT_NE(out->find("Content-Type: text/plain\r\n\r\nascii\r\n--b1--\r\nepilogue\r\n"),
            std::string::npos);
  EXPECT_NE(out->find("=C3=BC"), std::string::npos);
  EXPECT_TRUE(
      out->starts_with("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
                       "boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n"));
}

TEST(SevenBit, NestedMessageIsConvertedInside) {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"
      "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "Subject: inner\r\n\r\n"
      + kUmlauts + "\r\n--outer--\r\n";
  const auto out = to_seven_bit(m);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(seven_bit_clean(*out));
  EXPECT_NE(out->find("Content-Transfer-Encoding: 7bit\r\n\r\nSubject: inner\r\n"),
            std::string::npos);
}

TEST(SevenBit, WhatCannotBeMadeCleanIsKept) {
  // RFC 6532 header fields: only an SMTPUTF8 server may have it.
  EXPECT_FALSE(to_seven_bit("Subject: \xc3\xa9t\xc3\xa9\r\n\r\n" + kUmlauts).has_value());
  // 8-bit octets in a part that claims base64: damaged, not ours to guess.
  EXPECT_FALSE(to_seven_bit("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                            + kUmlauts)
                   .has_value());
  EXPECT_FALSE(
      to_seven_bit("Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\n" + kUmlauts + "\r\n--x--\r\n")
          .has_value());
}

}  // namespace
}  // namespace txmail::mime
