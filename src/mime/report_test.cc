// The reader of what comes back to the return path (mime/report.h), on the example messages
// under tests/reports/ (one per form the table of patterns knows, and the standard ones).
#include "mime/report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace txmail::mime {
namespace {

// An example as the SMTP server would store it: CRLF line breaks.
std::string example(const std::string& name) {
  std::ifstream in(std::string(TXMAIL_REPORTS_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string out;
  for (const char c : ss.str()) {
    if (c == '\n') {
      out += "\r\n";
    } else if (c != '\r') {
      out.push_back(c);
    }
  }
  return out;
}

TEST(Report, PostfixDeliveryStatusNotification) {
  const Report r = read_report(example("postfix-dsn.eml"));
  EXPECT_EQ(r.kind, ReportKind::kDeliveryStatus);
  EXPECT_EQ(r.reporting_mta, "mx.dest.test");
  ASSERT_EQ(r.recipients.size(), 2U);
  EXPECT_EQ(r.recipients[0].recipient, "nobody@dest.test");
  EXPECT_EQ(r.recipients[0].action, "failed");
  EXPECT_EQ(r.recipients[0].status, "5.1.1");
  EXPECT_EQ(r.recipients[0].diagnostic, "unknown user: \"nobody\"");
  EXPECT_TRUE(r.recipients[0].hard());
  EXPECT_EQ(r.recipients[1].recipient, "full@dest.test");
  EXPECT_EQ(r.recipients[1].action, "delayed");
  EXPECT_TRUE(r.recipients[1].soft());
  EXPECT_FALSE(r.recipients[1].hard());
  EXPECT_EQ(r.recipients[1].remote_mta, "mx2.dest.test");
  // A folded Diagnostic-Code is one line.
  EXPECT_EQ(r.recipients[1].diagnostic,
            "452 4.2.2 <full@dest.test>: mailbox full, try again later");
  EXPECT_NE(r.original_headers.find("Message-ID: <01a234d9-e312"), std::string::npos)
      << r.original_headers;
}

TEST(Report, FeedbackReportFromRfc5965Layout) {
  const Report r = read_report(example("arf.eml"));
  EXPECT_EQ(r.kind, ReportKind::kFeedback);
  EXPECT_EQ(r.feedback_type, "abuse");
  EXPECT_EQ(r.feedback_agent, "SomeGenerator/1.0");
  EXPECT_EQ(r.original_mail_from, "b-AbCdEf0123456789@bounces.txmail.test");
  EXPECT_EQ(r.original_rcpt_to, "user@example.com");
  EXPECT_NE(r.original_headers.find("Subject: Earn money"), std::string::npos);
  EXPECT_EQ(r.original_headers.find("Spam Spam"), std::string::npos);  // headers only
}

// What a complaint that lost its return path is found by: the report's own fields, and the
// Return-Path the receiving server added to the original (when the report returns it).
TEST(Report, FeedbackReportKeepsReporterAndOriginalReturnPath) {
  std::string message = example("arf.eml");
  EXPECT_EQ(read_report(message).reporting_mta, "mail.example.com");
  EXPECT_EQ(read_report(message).original_return_path, "");
  const std::string original = "From: <orders@shop.test>\r\n";
  const auto at = message.find(original);
  ASSERT_NE(at, std::string::npos);
  message.insert(at, "Return-Path: <b-token@bounces.txmail.test>\r\n");
  const Report r = read_report(message);
  EXPECT_EQ(r.kind, ReportKind::kFeedback);
  EXPECT_EQ(r.original_return_path, "b-token@bounces.txmail.test");
}

TEST(Report, AutomaticRepliesAreNeverBounces) {
  for (const char* name : {"auto-reply.eml", "out-of-office.eml"}) {
    const Report r = read_report(example(name));
    EXPECT_EQ(r.kind, ReportKind::kAutoReply) << name;
    EXPECT_TRUE(r.recipients.empty()) << name;
  }
}

TEST(Report, NonStandardBouncesFromTheTable) {
  struct Case {
    const char* file;
    const char* pattern;
    std::vector<std::pair<std::string, std::string>> recipients;  // address, status
  };

  const Case cases[] = {
      {"qmail.eml", "qmail", {{"nobody@dest.test", "5.1.1"}, {"gone@dest.test", "5.1.1"}}},
      {"exim.eml", "exim", {{"nobody@dest.test", "5.1.1"}}},
      {"remote-host-said.eml", "remote-host-said", {{"nobody@dest.test", "5.0.0"}}},
  };
  for (const auto& c : cases) {
    const Report r = read_report(example(c.file));
    EXPECT_EQ(r.kind, ReportKind::kPatternBounce) << c.file;
    EXPECT_EQ(r.pattern, c.pattern) << c.file;
    ASSERT_EQ(r.recipients.size(), c.recipients.size()) << c.file;
    for (std::size_t i = 0; i < c.recipients.size(); ++i) {
      EXPECT_EQ(r.recipients[i].recipient, c.recipients[i].first) << c.file;
      EXPECT_EQ(r.recipients[i].status, c.recipients[i].second) << c.file;
      EXPECT_TRUE(r.recipients[i].hard()) << c.file;
      EXPECT_FALSE(r.recipients[i].diagnostic.empty()) << c.file;
    }
  }
  // Every pattern of the table has its example here.
  EXPECT_EQ(bounce_patterns().size(), std::size(cases));
}

TEST(Report, StatusFromTheDiagnosticSkipsAddresses) {
  const std::string dsn =
      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
      "Final-Recipient: rfc822; a@b.test\r\nAction: failed\r\n"
      "Diagnostic-Code: smtp; host 5.12.3.4 said: 550 5.1.1 no such user\r\n\r\n--b--\r\n";
  const Report r = read_report(dsn);
  ASSERT_EQ(r.recipients.size(), 1U);
  EXPECT_EQ(r.recipients[0].status, "5.1.1");
}

TEST(Report, WhatItCannotReadIsUnknown) {
  EXPECT_EQ(read_report(example("unknown.eml")).kind, ReportKind::kUnknown);
  EXPECT_EQ(read_report("").kind, ReportKind::kUnknown);
  EXPECT_EQ(read_report("\r\n\r\n").kind, ReportKind::kUnknown);
  // A multipart/report without a boundary, or with no report part.
  EXPECT_EQ(
      read_report("Content-Type: multipart/report; report-type=delivery-status\r\n\r\nx").kind,
      ReportKind::kUnknown);
  // A delivery-status part with a recipient group lacking an address: no recipient.
  const std::string dsn =
      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
      "Action: failed\r\nStatus: 5.0.0\r\n\r\n--b--\r\n";
  const Report r = read_report(dsn);
  EXPECT_EQ(r.kind, ReportKind::kDeliveryStatus);
  EXPECT_TRUE(r.recipients.empty());
}

}  // namespace
}  // namespace txmail::mime
