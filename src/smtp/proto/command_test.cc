#include "smtp/proto/command.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

struct AddressCase {  // NOLINT(clang-analyzer-optin.performance.Padding): a table
  const char* line;
  bool ok;
  const char* address;  // expected address when ok; expected enhanced code otherwise
  bool utf8;
};

TEST(CommandParser, MailAndRcptAddressForms) {
  const AddressCase cases[] = {
      {"MAIL FROM:<a@example.com>", true, "a@example.com", false},
      {"mail from:<a@example.com>", true, "a@example.com", false},
      {"MAIL FROM: <a@example.com>", true, "a@example.com", false},
      {"MAIL FROM:<>", true, "", false},
      {"MAIL FROM:<first.last+tag@sub.example.co.uk>", true, "first.last+tag@sub.example.co.uk",
       false},
      {"MAIL FROM:<\"john doe\"@example.com>", true, "\"john doe\"@example.com", false},
      {"MAIL FROM:<\"a@b>c\"@example.com>", true, "\"a@b>c\"@example.com", false},
      {R"(MAIL FROM:<"esc\"aped"@example.com>)", true, R"("esc\"aped"@example.com)", false},
      {"MAIL FROM:<@relay.example,@other.example:a@example.com>", true, "a@example.com", false},
      {"MAIL FROM:<a@[192.0.2.1]>", true, "a@[192.0.2.1]", false},
      {"MAIL FROM:<a@[IPv6:2001:db8::1]>", true, "a@[IPv6:2001:db8::1]", false},
      {"MAIL FROM:<a@xn--bcher-kva.example>", true, "a@xn--bcher-kva.example", false},
      {"MAIL FROM:<a@b\xc3\xbc\x63her.example> SMTPUTF8", true, "a@b\xc3\xbc\x63her.example", true},
      {"MAIL FROM:<\xe7\x94\xa8\xe6\x88\xb7@example.com> SMTPUTF8", true,
       "\xe7\x94\xa8\xe6\x88\xb7@example.com", true},
      {"RCPT TO:<b@example.org>", true, "b@example.org", false},
      {"RCPT "
       "TO:<\xd0\xbf\xd0\xbe\xd1\x87\xd1\x82\xd0\xb0@"
       "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84>",
       true,
       "\xd0\xbf\xd0\xbe\xd1\x87\xd1\x82\xd0\xb0@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
       "\xd1\x80\xd1\x84",
       true},
      // Failures: the enhanced code tells sender (5.1.7) from recipient (5.1.3).
      {"MAIL FROM:a@example.com", false, "5.1.7", false},
      {"MAIL FROM:<a@example.com", false, "5.1.7", false},
      {"MAIL FROM:<a..b@example.com>", false, "5.1.7", false},
      {"MAIL FROM:<.a@example.com>", false, "5.1.7", false},
      {"MAIL FROM:<a@-bad.example>", false, "5.1.7", false},
      {"MAIL FROM:<a@bad_domain.example>", false, "5.1.7", false},
      {"MAIL FROM:<a@[300.1.1.1]>", false, "5.1.7", false},
      {"MAIL FROM:<a@b\xc3\x28.example>", false, "5.1.7", false},
      {"MAIL FROM:<\xc0\xaf@example.com>", false, "5.1.7", false},
      {"RCPT TO:<>", false, "5.1.3", false},
      {"RCPT TO:<no-at-sign>", false, "5.1.3", false},
      {"RCPT TO:<a b@example.com>", false, "5.1.3", false},
      {"RCPT TO:<a@>", false, "5.1.3", false},
      {"RCPT TO:<@example.com>", false, "5.1.3", false},
      {"RCPT TO:<a@example.com>x", false, "5.1.3", false},
      {"RCPT TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com>",
       false, "5.1.3", false},
  };
  for (const auto& c : cases) {
    auto cmd = parse_command(c.line);
    ASSERT_EQ(cmd.has_value(), c.ok) << c.line << (cmd ? "" : cmd.error().wire());
    if (c.ok) {
      EXPECT_EQ(cmd->path.address(), c.address) << c.line;
      EXPECT_EQ(cmd->path.utf8, c.utf8) << c.line;
    } else {
      EXPECT_EQ(cmd.error().code, 501) << c.line;
      EXPECT_EQ(cmd.error().enhanced, c.address) << c.line;
    }
  }
}

struct ParamCase {
  const char* line;
  int error_code;  // 0: parses
};

TEST(CommandParser, MailParameters) {
  const ParamCase cases[] = {
      {"MAIL FROM:<a@b.example> SIZE=1000", 0},
      {"MAIL FROM:<a@b.example> size=0", 0},
      {"MAIL FROM:<a@b.example> BODY=8BITMIME", 0},
      {"MAIL FROM:<a@b.example> BODY=7BIT", 0},
      {"MAIL FROM:<a@b.example> SMTPUTF8", 0},
      {"MAIL FROM:<a@b.example> AUTH=<>", 0},
      {"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME SMTPUTF8", 0},
      {"MAIL FROM:<a@b.example> SIZE=abc", 501},
      {"MAIL FROM:<a@b.example> SIZE=", 501},
      {"MAIL FROM:<a@b.example> SIZE=99999999999999999999999", 501},
      {"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 501},
      {"MAIL FROM:<a@b.example> BODY=BINARYMIME", 555},
      {"MAIL FROM:<a@b.example> BODY=8BITMIME BODY=7BIT", 501},
      {"MAIL FROM:<a@b.example> RET=FULL", 555},
      {"MAIL FROM:<a@b.example> SMTPUTF8=yes", 555},
      {"MAIL FROM:<a@b.example> FOO", 555},
      {"RCPT TO:<a@b.example> NOTIFY=NEVER", 555},
  };
  for (const auto& c : cases) {
    auto cmd = parse_command(c.line);
    if (c.error_code == 0) {
      EXPECT_TRUE(cmd.has_value()) << c.line << (cmd ? "" : cmd.error().wire());
    } else {
      ASSERT_FALSE(cmd.has_value()) << c.line;
      EXPECT_EQ(cmd.error().code, c.error_code) << c.line;
      EXPECT_EQ(cmd.error().enhanced, "5.5.4") << c.line;
    }
  }
  auto cmd = parse_command("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8");
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->size, 12345U);
  EXPECT_EQ(cmd->body, BodyType::k8BitMime);
  EXPECT_TRUE(cmd->smtputf8);
}

TEST(CommandParser, Verbs) {
  struct VerbCase {
    const char* line;
    Verb verb;
  };

  const VerbCase cases[] = {
      {"EHLO client.example", Verb::kEhlo},
      {"helo client", Verb::kHelo},
      {"EHLO [192.0.2.1]", Verb::kEhlo},
      {"DATA", Verb::kData},
      {"RSET", Verb::kRset},
      {"NOOP", Verb::kNoop},
      {"NOOP anything", Verb::kNoop},
      {"QUIT", Verb::kQuit},
      {"VRFY someone", Verb::kVrfy},
      {"HELP", Verb::kHelp},
      {"STARTTLS", Verb::kStartTls},
      {"AUTH PLAIN", Verb::kAuth},
      {"BDAT 100", Verb::kBdat},
      {"EXPN list", Verb::kExpn},
  };
  for (const auto& c : cases) {
    auto cmd = parse_command(c.line);
    ASSERT_TRUE(cmd) << c.line;
    EXPECT_EQ(cmd->verb, c.verb) << c.line;
  }
}

TEST(CommandParser, Errors) {
  struct ErrorCase {
    std::string line;
    int code;
    const char* enhanced;
  };

  const ErrorCase cases[] = {
      {"FOO", 500, "5.5.1"},
      {"", 500, "5.5.1"},
      {"MAILFROM:<a@b.example>", 500, "5.5.1"},
      {"EHLO", 501, "5.5.4"},
      {"HELO a b", 501, "5.5.4"},
      {"DATA now", 501, "5.5.4"},
      {"QUIT please", 501, "5.5.4"},
      {"STARTTLS x", 501, "5.5.4"},
      {"MAIL TO:<a@b.example>", 501, "5.5.4"},
      {"RCPT FROM:<a@b.example>", 501, "5.5.4"},
      {"BDAT", 501, "5.5.4"},
      {"BDAT -1", 501, "5.5.4"},
      {"BDAT 10 NOTLAST", 501, "5.5.4"},
      {"AUTH", 501, "5.5.4"},
      {"AUTH PLAIN a b", 501, "5.5.4"},
      {std::string("NOOP a\0b", 8), 500, "5.5.2"},
      {"NOOP " + std::string(1000, 'x'), 500, "5.5.2"},
  };
  for (const auto& c : cases) {
    auto cmd = parse_command(c.line);
    ASSERT_FALSE(cmd) << c.line;
    EXPECT_EQ(cmd.error().code, c.code) << c.line;
    EXPECT_EQ(cmd.error().enhanced, c.enhanced) << c.line;
  }
}

TEST(CommandParser, BdatAndAuthArguments) {
  auto bdat = parse_command("BDAT 4096 LAST");
  ASSERT_TRUE(bdat);
  EXPECT_EQ(bdat->chunk_size, 4096U);
  EXPECT_TRUE(bdat->last_chunk);
  auto bdat0 = parse_command("bdat 0 last");
  ASSERT_TRUE(bdat0);
  EXPECT_EQ(bdat0->chunk_size, 0U);
  EXPECT_TRUE(bdat0->last_chunk);
  auto auth = parse_command("auth plain AGFsaWNlAHNlY3JldA==");
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->mechanism, "PLAIN");
  EXPECT_EQ(auth->initial_response, "AGFsaWNlAHNlY3JldA==");
  auto login = parse_command("AUTH LOGIN");
  ASSERT_TRUE(login);
  EXPECT_FALSE(login->initial_response.has_value());
}

TEST(Reply, WireFormat) {
  EXPECT_EQ(Reply(250, "2.1.0", "Ok").wire(), "250 2.1.0 Ok\r\n");
  Reply multi;
  multi.code = 250;
  multi.enhanced = "";
  multi.lines = {"mx.example", "PIPELINING", "SIZE 100"};
  EXPECT_EQ(multi.wire(), "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
  Reply two(451, "4.3.0", "first");
  two.lines.emplace_back("second");
  EXPECT_EQ(two.wire(), "451-4.3.0 first\r\n451 4.3.0 second\r\n");
  EXPECT_TRUE(Reply(354, "", "go").positive());
  EXPECT_TRUE(Reply(452, "4.5.3", "x").transient());
  EXPECT_TRUE(Reply(554, "5.7.1", "x").permanent());
}

}  // namespace
}  // namespace txmail::smtp
