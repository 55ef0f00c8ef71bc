#include "smtp/client/envelope_form.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

const std::string kJose =
    "jos\xc3\xa9@b\xc3\xbc"
    "cher.test";
const std::string kInfo =
    "info@b\xc3\xbc"
    "cher.test";

TEST(EnvelopeForm, Utf8ToAServerThatOffersIt) {
  const auto f = envelope_form({"a@sender.test", {kJose, kInfo}, true, true}, true, "mx");
  EXPECT_TRUE(f.smtputf8);
  EXPECT_EQ(f.recipients, (std::vector<std::string>{kJose, kInfo}));
  EXPECT_EQ(f.refused, (std::vector<std::string>{"", ""}));
  EXPECT_TRUE(f.message_refused.empty());
}

TEST(EnvelopeForm, AsciiFormsWithoutSmtpUtf8) {
  const auto f = envelope_form({"a@b\xc3\xbc"
                                "cher.test",
                                {kJose, kInfo, "x@y.test"},
                                true,
                                false},
                               false, "mx.test");
  EXPECT_FALSE(f.smtputf8);
  EXPECT_EQ(f.sender, "a@xn--bcher-kva.test");
  EXPECT_EQ(f.recipients[1], "info@xn--bcher-kva.test");
  EXPECT_EQ(f.recipients[2], "x@y.test");
  EXPECT_TRUE(f.recipients[0].empty());
  EXPECT_NE(f.refused[0].find("local part is not ASCII and mx.test does not offer SMTPUTF8"),
            std::string::npos);
  EXPECT_TRUE(f.refused[1].empty());
}

TEST(EnvelopeForm, WholeMessageRefusedWhenItCannotBeAscii) {
  EXPECT_NE(envelope_form({kJose, {"x@y.test"}, true, false}, false, "mx").message_refused, "");
  EXPECT_NE(envelope_form({"a@b.test", {"x@y.test"}, true, true}, false, "mx").message_refused, "");
  // Not submitted with SMTPUTF8: nothing to decide, even offered.
  const auto plain = envelope_form({"", {"x@Y.test"}, false, false}, true, "mx");
  EXPECT_FALSE(plain.smtputf8);
  EXPECT_EQ(plain.sender, "");
  EXPECT_EQ(plain.recipients[0], "x@y.test");
}

TEST(EnvelopeForm, HeaderSection) {
  EXPECT_FALSE(utf8_header_section("Subject: a\r\n\r\nK\xc3\xb6ln"));
  EXPECT_TRUE(utf8_header_section("Subject: K\xc3\xb6ln\r\n\r\nx"));
  EXPECT_FALSE(utf8_header_section("\r\nK\xc3\xb6ln"));
}

}  // namespace
}  // namespace txmail::smtp
