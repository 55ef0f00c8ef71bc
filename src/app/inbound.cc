#include "app/inbound.h"

#include <algorithm>

#include "api/unsubscribe.h"
#include "common/duration.h"
#include "common/log.h"
#include "mime/entity.h"

namespace txmail::app {

namespace {

using mime::lower;

// What a permanent failure's status says of the address (as smtp/client/trouble.cc classes a
// refusal at delivery): X.1.7 and X.1.8 refuse the sender (nothing of the recipient), X.1.x no
// such user, X.2.2 a full mailbox, anything else permanent.
smtp::SuppressionClass suppression_class(const std::string& status) {
  if (status == "5.1.7" || status == "5.1.8") {
    return smtp::SuppressionClass::kNone;
  }
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

// A complaint as the event shows it: the feedback type and who reported it.
std::string complaint_text(const mime::Report& r) {
  std::string out = "feedback report: type=" + r.feedback_type;
  if (!r.feedback_agent.empty()) {
    out += ", user-agent=" + r.feedback_agent.substr(0, 100);
  }
  return out;
}

bool complained_before(const std::vector<events::Event>& known) {
  return std::any_of(known.begin(), known.end(),
                     [](const events::Event& e) { return e.kind == events::Kind::kComplained; });
}

}  // namespace

std::optional<std::string> InboundHandler::mail_id_of(const std::string& address) const {
  const auto at = address.rfind('@');
  if (at == std::string::npos) {
    return std::nullopt;
  }
  if (const std::string domain = lower(address.substr(at + 1));
      domain != settings_.domain && !(also_accept_ && also_accept_(domain))) {
    return std::nullopt;
  }
  const std::string_view whole = address;
  return return_path_.mail_id(whole.substr(0, at));
}

std::optional<std::string> InboundHandler::unsubscribe_mail_id(const std::string& address) const {
  const auto at = address.rfind('@');
  if (unsubscribes_ == nullptr || at == std::string::npos
      || lower(address.substr(at + 1)) != settings_.domain) {
    return std::nullopt;
  }
  const std::string_view whole = address;
  return unsubscribes_->mail_id(whole.substr(0, at));
}

bool InboundHandler::accepts(const std::string& address) const {
  if (mail_id_of(address).has_value() || unsubscribe_mail_id(address).has_value()
      || (!settings_.feedback_address.empty() && lower(address) == settings_.feedback_address)) {
    return true;
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::optional<std::string> InboundHandler::complaint_mail_id(
    const mime::Report& report, const std::vector<std::string>& rcpts) const {
  for (const auto& rcpt : rcpts) {
    if (auto id = mail_id_of(rcpt)) {
      return id;
    }
  }
  // The return path was lost (the report went to the feedback address): the report names it.
  for (const std::string* address : {&report.original_mail_from, &report.original_return_path}) {
    if (auto id = mail_id_of(*address)) {
      return id;
    }
  }
  return std::nullopt;
}

void InboundHandler::keep(const std::string& message, std::string_view what) {
  if (kept_ == nullptr) {
    logger()->warn("inbound: {} (not kept: [bounces] kept_messages = 0)", what);
    return;
  }
  auto id = kept_->keep(message);
  if (!id) {
    logger()->error("inbound: {}; keeping it failed: {}", what, id.error().detail);
    return;
  }
  logger()->warn("inbound: {}; kept as {} (txmail inbound show {})", what, *id, *id);
}

std::optional<smtp::InboundReply> InboundHandler::unsubscribe(std::vector<std::string>& rcpts) {
  std::vector<std::string> others;
  for (const auto& rcpt : rcpts) {
    const auto mail_id = unsubscribe_mail_id(rcpt);
    if (!mail_id) {
      others.push_back(rcpt);
      continue;
    }
    if (unsubscribes_->record(*mail_id, "mailto (a message to the unsubscribe address)")
        == api::Unsubscribes::Outcome::kFailed) {
      return smtp::InboundReply{451, "4.3.0", "Temporary failure, please try again later"};
    }
  }
  rcpts = std::move(others);
  return std::nullopt;
}

smtp::InboundReply InboundHandler::receive(const std::string& message,
                                           const std::vector<std::string>& all) {
  ++messages_;
  // What the message says does not matter to an unsubscribe: sending it is the request.
  std::vector<std::string> rcpts = all;
  if (auto failed = unsubscribe(rcpts)) {
    return *failed;
  }
  if (rcpts.empty()) {
    return {};
  }
  const mime::Report report = mime::read_report(message);
  const std::string to = rcpts.empty() ? std::string() : rcpts.front();
  switch (report.kind) {
    case mime::ReportKind::kAutoReply:
      ++auto_replies_;
      logger()->info("inbound: an automatic reply to {} (recorded, not a bounce)", to);
      return {};
    case mime::ReportKind::kFeedback:
      return complaint(report, message, rcpts);
    case mime::ReportKind::kUnknown:
      ++unreadable_;
      keep(message, "a message to " + to + " that is neither a report nor a known bounce");
      return {};
    case mime::ReportKind::kDeliveryStatus:
    case mime::ReportKind::kPatternBounce:
      break;
  }
  return bounce(report, rcpts);
}

smtp::InboundReply InboundHandler::bounce(const mime::Report& report,
                                          const std::vector<std::string>& rcpts) {
  for (const auto& rcpt : rcpts) {
    const auto mail_id = mail_id_of(rcpt);
    if (!mail_id) {
      continue;  // the feedback address: a bounce names its mail by the return path only
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
    events::Event e = events::follow_up(
        rr->hard() ? events::Kind::kBouncedHard : events::Kind::kBouncedSoft, last);
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

smtp::InboundReply InboundHandler::complaint(const mime::Report& report, const std::string& message,
                                             const std::vector<std::string>& rcpts) {
  ++complaints_;
  const auto mail_id = complaint_mail_id(report, rcpts);
  if (!mail_id) {
    ++unknown_mail_;
    keep(message, "a " + report.feedback_type + " feedback report from " + report.reporting_mta
                      + " that names no mail of ours");
    return {};
  }
  auto known = log_.for_mail(*mail_id);
  if (!known) {
    return {451, "4.3.0", "Temporary failure, please try again later"};
  }
  if (known->empty()) {
    ++unknown_mail_;
    logger()->warn("inbound: a complaint about mail {}, which the event log does not know",
                   *mail_id);
    return {};
  }
  if (complained_before(*known)) {
    logger()->info("inbound: another complaint about mail {} (recorded once)", *mail_id);
    return {};
  }
  const events::Event& last = known->back();
  events::Event e = events::follow_up(events::Kind::kComplained, last);
  e.remote_host = report.reporting_mta;
  e.reply = complaint_text(report);
  log_.append(e);
  ++complained_;
  // add_complaint logs its own failure; the event stands either way.
  (void)suppressions_.add_complaint(e.account, e.recipient, e.reply, now_ms());
  logger()->info("inbound: a {} complaint about mail {} from {}", report.feedback_type, e.mail_id,
                 report.reporting_mta);
  return {};
}

InboundStats InboundHandler::stats() const {
  InboundStats s{messages_.load(),   bounces_.load(),    auto_replies_.load(), complaints_.load(),
                 complained_.load(), unreadable_.load(), unknown_mail_.load()};
  if (kept_ != nullptr) {
    s.kept = kept_->count();
    s.kept_bytes = kept_->bytes();
    s.kept_dropped = kept_->dropped();
  }
  s.rejected = rejected_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace txmail::app
