#include "app/inbound.h"

#include "common/duration.h"
#include "common/log.h"
#include "mime/entity.h"
#include "mime/report.h"

namespace txmail::app {

namespace {

using mime::lower;

// What a permanent failure's status says of the address (as smtp/client/trouble.h classes a
// refusal at delivery): X.1.x no such user, X.2.2 a full mailbox, anything else permanent.
smtp::SuppressionClass suppression_class(const std::string& status) {
  if (status.starts_with("5.1.")) {
    return smtp::SuppressionClass::kNoSuchUser;
  }
  if (status == "5.2.2") {
    return smtp::SuppressionClass::kMailboxFull;
  }
  return smtp::SuppressionClass::kOtherPermanent;
}

// The report's entry for the recipient the return path names: by address, else the first
// failure (a VERP bounce is about one recipient).
const mime::RecipientReport* entry_for(const mime::Report& r, const std::string& recipient) {
  const std::string want = lower(recipient);
  for (const auto& rr : r.recipients) {
    if (lower(rr.recipient) == want) {
      return &rr;
    }
  }
  for (const auto& rr : r.recipients) {
    if (rr.action == "failed") {
      return &rr;
    }
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> InboundHandler::mail_id_of(const std::string& address) const {
  const auto at = address.rfind('@');
  if (at == std::string::npos) {
    return std::nullopt;
  }
  if (const std::string domain = lower(address.substr(at + 1));
      domain != domain_ && !(also_accept_ && also_accept_(domain))) {
    return std::nullopt;
  }
  const std::string_view whole = address;
  return return_path_.mail_id(whole.substr(0, at));
}

bool InboundHandler::accepts(const std::string& address) const {
  return mail_id_of(address).has_value();
}

smtp::InboundReply InboundHandler::receive(const std::string& message,
                                           const std::vector<std::string>& rcpts) {
  ++messages_;
  const mime::Report report = mime::read_report(message);
  switch (report.kind) {
    case mime::ReportKind::kAutoReply:
      ++auto_replies_;
      logger()->info("inbound: an automatic reply to {} (recorded, not a bounce)",
                     rcpts.empty() ? std::string() : rcpts.front());
      return {};
    case mime::ReportKind::kFeedback:
      ++complaints_;
      logger()->warn("inbound: a {} feedback report from {} (complaints are not events yet)",
                     report.feedback_type, report.feedback_agent);
      return {};
    case mime::ReportKind::kUnknown:
      ++unreadable_;
      logger()->warn("inbound: a message to {} that is neither a report nor a known bounce",
                     rcpts.empty() ? std::string() : rcpts.front());
      return {};
    case mime::ReportKind::kDeliveryStatus:
    case mime::ReportKind::kPatternBounce:
      break;
  }
  for (const auto& rcpt : rcpts) {
    const auto mail_id = mail_id_of(rcpt);
    if (!mail_id) {
      continue;  // refused at RCPT already; never here
    }
    auto known = log_.for_mail(*mail_id);
    if (!known) {
      return {451, "4.3.0", "Temporary failure, please try again later"};
    }
    if (known->empty()) {
      ++unknown_mail_;
      logger()->warn("inbound: a bounce for mail {}, which the event log does not know", *mail_id);
      continue;
    }
    const events::Event& last = known->back();
    const mime::RecipientReport* rr = entry_for(report, last.recipient);
    if (rr == nullptr || (!rr->hard() && !(rr->soft() && rr->action == "failed"))) {
      continue;  // a delay notice, or a report of success: nothing final
    }
    events::Event e =
        events::make_event(rr->hard() ? events::Kind::kBouncedHard : events::Kind::kBouncedSoft);
    e.job_id = last.job_id;
    e.mail_id = last.mail_id;
    e.account = last.account;
    e.recipient = last.recipient;
    e.sender = last.sender;
    e.remote_host = rr->remote_mta.empty() ? report.reporting_mta : rr->remote_mta;
    e.reply = "bounce after delivery (" + std::string(mime::to_string(report.kind))
              + (report.pattern.empty() ? "" : ": " + report.pattern) + "): " + rr->status
              + (rr->diagnostic.empty() ? "" : " " + rr->diagnostic);
    log_.append(e);
    ++bounces_;
    if (rr->hard()) {
      (void)suppressions_.add_bounce(e.account, e.recipient, suppression_class(rr->status), e.reply,
                                     now_ms());
    }
    logger()->info("inbound: {} bounce for mail {} ({})", rr->hard() ? "hard" : "soft", e.mail_id,
                   rr->status);
  }
  return {};
}

InboundStats InboundHandler::stats() const {
  return InboundStats{messages_.load(),   bounces_.load(),    auto_replies_.load(),
                      complaints_.load(), unreadable_.load(), unknown_mail_.load()};
}

}  // namespace txmail::app
