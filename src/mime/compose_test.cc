#include "mime/compose.h"

#include <gtest/gtest.h>

namespace txmail::mime {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t e = s.find("\r\n", i);
    out.push_back(s.substr(i, e - i));
    if (e == std::string::npos) {
      break;
    }
    i = e + 2;
  }
  return out;
}

TEST(Compose, QuotedPrintableKeepsTrailingSpaceAndShortLines) {
  EXPECT_EQ(quoted_printable("a = b  \r\nend\t"), "a =3D b =20\r\nend=09");
  const std::string qp = quoted_printable(std::string(300, 'x') + "\xC3\xA9");
  for (const auto& l : lines_of(qp)) {
    EXPECT_LE(l.size(), 76U);
  }
  EXPECT_NE(qp.find("=C3=A9"), std::string::npos);
}

TEST(Compose, EncodedWordsStayShortAndSplitOnCharacters) {
  const std::string text = "\xF0\x9F\x8E\x89 Gr\xC3\xBC\xC3\x9F\x65 " + std::string(200, 'a');
  const std::string w = encode_words(text, 0);
  for (const auto& l : lines_of(w)) {
    const std::string word = l.starts_with(" ") ? l.substr(1) : l;
    EXPECT_LE(word.size(), 75U);
    EXPECT_TRUE(word.starts_with("=?UTF-8?B?") && word.ends_with("?=")) << word;
  }
}

TEST(Compose, HeaderSafetyAndFieldNames) {
  EXPECT_TRUE(header_safe("plain value"));
  EXPECT_FALSE(header_safe("a\r\nBcc: x@y"));
  EXPECT_FALSE(header_safe("a\nb"));
  EXPECT_FALSE(header_safe(std::string_view("a\0b", 3)));
  EXPECT_TRUE(valid_field_name("X-Campaign"));
  EXPECT_FALSE(valid_field_name("X Campaign"));
  EXPECT_FALSE(valid_field_name("X-A:b"));
  EXPECT_FALSE(valid_field_name(""));
}

TEST(Compose, MailboxesQuoteOrEncodeNames) {
  EXPECT_EQ(format_mailbox({"Anna Smith", "a@x.test"}), "Anna Smith <a@x.test>");
  EXPECT_EQ(format_mailbox({"Doe, John", "j@x.test"}), "\"Doe, John\" <j@x.test>");
  EXPECT_EQ(format_mailbox({"say \"hi\"", "s@x.test"}), "\"say \\\"hi\\\"\" <s@x.test>");
  EXPECT_EQ(format_mailbox({"", "n@x.test"}), "n@x.test");
  EXPECT_TRUE(format_mailbox({"Zo\xC3\xAB", "z@x.test"}).starts_with("=?UTF-8?B?"));
}

TEST(Compose, StructureBccAndLineLimits) {
  Composition c;
  c.from = {"Sender", "s@x.test"};
  c.to = {{"To", "t@x.test"}};
  c.subject = "Hello";
  c.text = "plain\n";
  c.html = "<p>" + std::string(3000, 'h') + "</p>";
  c.attachments = {{"f\xC3\xA9.bin", "application/octet-stream", std::string(1000, '\x01'), ""},
                   {"logo.png", "image/png", "png", "logo"}};
  c.message_id = "id@x.test";
  const std::string m = compose(c);
  for (const auto& l : lines_of(m)) {
    EXPECT_LE(l.size(), 78U) << l.substr(0, 60);
  }
  EXPECT_NE(m.find("multipart/mixed"), std::string::npos);
  EXPECT_NE(m.find("multipart/alternative"), std::string::npos);
  EXPECT_NE(m.find("multipart/related"), std::string::npos);
  EXPECT_NE(m.find("filename*=utf-8''f%C3%A9.bin"), std::string::npos);
  EXPECT_EQ(m.find("Bcc"), std::string::npos);
  EXPECT_TRUE(m.ends_with("\r\n"));
  EXPECT_EQ(crlf_lines("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
}

}  // namespace
}  // namespace txmail::mime

#include "mime/control_fields.h"

namespace txmail::mime {
namespace {

TEST(ControlFields, ReadAndRemovedBothSpellings) {
  std::string m =
      "From: a@x.test\r\nX-TXMAIL-NOTIFICATION-URL: https://hooks.test/in\r\n"
      "X-Retarus-M4A-Notification-Header: k1=v1\r\nX-TXMAIL-NOTIFICATION-HEADER: k2 = v2\r\n"
      "X-TXMAIL-NOTIFICATION-AUTH-USER: u\r\nX-RETARUS-M4A-NOTIFICATION-AUTH-PASSWORD: p\r\n"
      "X-TXMAIL-REFERENCE: ref-1\r\nX-TXMAIL-CAMPAIGN-ID:\r\n spring\r\nX-TXMAIL-COST-CENTER: "
      "cc\r\n"
      "Subject: hi\r\n\r\nbody X-TXMAIL-REFERENCE: stays\r\n";
  auto [c, problem] = extract_control_fields(m);
  EXPECT_EQ(problem, "");
  EXPECT_EQ(c.notification_url, "https://hooks.test/in");
  ASSERT_EQ(c.notification_headers.size(), 2U);
  EXPECT_EQ(c.notification_headers[1], (std::pair<std::string, std::string>{"k2", "v2"}));
  EXPECT_EQ(c.auth_user, "u");
  EXPECT_EQ(c.auth_password, "p");
  EXPECT_EQ(c.reference, "ref-1");
  EXPECT_EQ(c.campaign_id, "spring");
  EXPECT_EQ(c.cost_center, "cc");
  EXPECT_EQ(c.removed, 8U);
  EXPECT_EQ(m, "From: a@x.test\r\nSubject: hi\r\n\r\nbody X-TXMAIL-REFERENCE: stays\r\n");
}

TEST(ControlFields, Refusals) {
  std::string a = "X-TXMAIL-NOTIFICATION-URL: ftp://x\r\n\r\nb\r\n";
  EXPECT_NE(extract_control_fields(a).second, "");
  std::string b = "X-TXMAIL-REFERENCE: " + std::string(51, 'r') + "\r\n\r\nb\r\n";
  EXPECT_NE(extract_control_fields(b).second, "");
  std::string c = "X-TXMAIL-NOTIFICATION-HEADER: novalue\r\n\r\nb\r\n";
  EXPECT_NE(extract_control_fields(c).second, "");
  std::string d =
      "X-TXMAIL-NOTIFICATION-HEADER: k=1\r\nX-TXMAIL-NOTIFICATION-HEADER: K=2\r\n\r\nb\r\n";
  EXPECT_NE(extract_control_fields(d).second, "");
  std::string e = "Subject: none\r\n\r\nX-TXMAIL-REFERENCE: body\r\n";
  auto [fields, problem] = extract_control_fields(e);
  EXPECT_EQ(fields.removed, 0U);
  EXPECT_EQ(e, "Subject: none\r\n\r\nX-TXMAIL-REFERENCE: body\r\n");
}

}  // namespace
}  // namespace txmail::mime
