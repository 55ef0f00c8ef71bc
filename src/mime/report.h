// What comes back to the return path (issue bounce-1, item 3): a reader of delivery status
// notifications (RFC 3464, multipart/report; report-type=delivery-status, and RFC 6533's
// message/global-delivery-status), feedback reports (RFC 5965 ARF, report-type=feedback-report),
// automatic replies (RFC 3834 Auto-Submitted, and the usual out-of-office marks), and the
// common bounces that follow no standard (a table of patterns in report_patterns.cc, each with
// an example message under tests/reports/).
//
// Pure and bounded: it reads a stranger's message, never throws, looks at most kMaxParts parts
// and kMaxRecipients recipients, and keeps what it found of the original message (its header
// fields: Message-ID and the X-Txmail-* fields) to find the mail it answers when the return path
// is lost. What it cannot read is kUnknown (the caller keeps such messages for inspection).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace txmail::mime {

enum class ReportKind {
  kUnknown,
  kDeliveryStatus,  // an RFC 3464 DSN
  kFeedback,        // an RFC 5965 ARF report (a complaint)
  kAutoReply,       // RFC 3834 or an out-of-office: recorded, never a bounce
  kPatternBounce,   // a bounce in one of the non-standard forms of report_patterns.cc
};

const char* to_string(ReportKind kind);

// One recipient's fate as the report gives it.
struct RecipientReport {
  std::string recipient;   // Final-Recipient (or Original-Recipient) address, as written
  std::string action;      // failed, delayed, delivered, relayed, expanded (lower case)
  std::string status;      // "5.1.1"; derived from the diagnostic when the report has none
  std::string diagnostic;  // Diagnostic-Code text (its type prefix "smtp;" removed)
  std::string remote_mta;  // Remote-MTA name

  // A permanent failure (status 5.x.x; action failed).
  bool hard() const;
  // A temporary one: status 4.x.x (action failed or delayed).
  bool soft() const;
};

struct Report {
  ReportKind kind = ReportKind::kUnknown;
  std::vector<RecipientReport> recipients;  // DSN and pattern bounces
  std::string reporting_mta;                // DSN and ARF Reporting-MTA
  // ARF: Feedback-Type (abuse, fraud, virus, other, ...; lower case), User-Agent, and the
  // original envelope as the report gives it.
  std::string feedback_type;
  std::string feedback_agent;
  std::string original_mail_from;
  std::string original_rcpt_to;
  // The original message's header section (message/rfc822 or text/rfc822-headers part), or
  // "" when the report returned none.
  std::string original_headers;
  // The address of the original's Return-Path field (added at final delivery), "" when none:
  // with the ARF fields, how a complaint that lost its return path finds the mail it is about.
  std::string original_return_path;
  std::string pattern;  // kPatternBounce: the name of the pattern that matched
};

inline constexpr std::size_t kMaxParts = 64;
inline constexpr std::size_t kMaxRecipients = 1000;

// `message`: a whole message with CRLF line breaks (as the SMTP server stores it).
Report read_report(std::string_view message);

// --- the table of non-standard bounces (report_patterns.cc) ---------------------------------

struct BouncePattern {
  const char* name;
  // Every marker must appear in the body (case-insensitive) for the pattern to apply.
  std::vector<std::string_view> markers;
  // The recipients and reasons, from the body's text (lines without CR).
  std::vector<RecipientReport> (*extract)(std::string_view text);
};

const std::vector<BouncePattern>& bounce_patterns();

}  // namespace txmail::mime
