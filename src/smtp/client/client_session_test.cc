#include "smtp/client/client_session.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

TEST(DotStuff, StuffsLeadingDotsAndTerminates) {
  EXPECT_EQ(dot_stuff("a\r\n.b\r\n..\r\n"), "a\r\n..b\r\n...\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
  EXPECT_EQ(dot_stuff(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(dot_stuff("no final newline"), "no final newline\r\n.\r\n");
  EXPECT_EQ(dot_stuff("x.y\r\n"), "x.y\r\n.\r\n");
}

TEST(DotStuff, SendsAMessageWithoutLeadingDotsAsItIs) {
  std::string storage;
  const std::string message = "Subject: x\r\n\r\nv1.2 and 3.4\r\nend.\r\n";
  const std::string_view body = stuff_dots(message, storage);
  EXPECT_EQ(body.data(), message.data());  // no copy
  EXPECT_EQ(body.size(), message.size());
  EXPECT_EQ(data_terminator(body), ".\r\n");
  EXPECT_EQ(data_terminator("no final newline"), "\r\n.\r\n");
  EXPECT_EQ(data_terminator(""), ".\r\n");
}

TEST(DotStuff, CopiesOnlyWhenALineStartsWithADot) {
  std::string storage;
  EXPECT_EQ(stuff_dots(".a\r\nb", storage), "..a\r\nb");
  EXPECT_EQ(stuff_dots("a\r\n.", storage), "a\r\n..");  // a dot as the last byte
  EXPECT_EQ(stuff_dots("a.\r\n.b.\r\n.\r\n", storage), "a.\r\n..b.\r\n..\r\n");
  EXPECT_EQ(std::string(stuff_dots("a\n.b", storage)), "a\n.b");  // only CRLF ends a line
}

TEST(ReplyLine, Parses) {
  int code = 0;
  bool last = false;
  std::string text;
  ASSERT_TRUE(parse_reply_line("250-PIPELINING", code, last, text));
  EXPECT_EQ(code, 250);
  EXPECT_FALSE(last);
  EXPECT_EQ(text, "PIPELINING");
  ASSERT_TRUE(parse_reply_line("550 5.1.1 no such user", code, last, text));
  EXPECT_TRUE(last);
  ASSERT_TRUE(parse_reply_line("220", code, last, text));
  EXPECT_TRUE(last);
  EXPECT_FALSE(parse_reply_line("25", code, last, text));
  EXPECT_FALSE(parse_reply_line("250_x", code, last, text));
  EXPECT_FALSE(parse_reply_line("abc def", code, last, text));
}

TEST(TlsPolicy, Parses) {
  EXPECT_EQ(*parse_tls_mode("verify"), TlsMode::kVerify);
  EXPECT_FALSE(parse_tls_mode("maybe"));
  EXPECT_TRUE(tls_mandatory(TlsMode::kRequired));
  EXPECT_FALSE(tls_mandatory(TlsMode::kOpportunistic));
}

}  // namespace
}  // namespace txmail::smtp
