// What comes back to the return paths (issue bounce-1, items 2-4): the handler of
// [[smtp.listener]] mode = "inbound". A recipient is accepted only when it is a return path this
// node made (b-<token>@<[bounces] domain>, the token's MAC right: tenancy/return_path.h), or the
// feedback address ([bounces] feedback_address); the message is read (mime/report.h) and:
// - a bounce of a mail txmail sent gives the recipient DELIVER/FINISHED/BOUNCED/HARD_BOUNCE (or
//   SOFT_BOUNCE), even after DELIVERED, with the report's status and diagnostic, and a hard
//   bounce puts the address on the account's suppression list, as a bounce at delivery does;
// - a complaint (an RFC 5965 feedback report) gives POST_PROCESS/POST_DELIVERY/COMPLAINED/
//   COMPLAINT with the feedback type, user agent and reporting MTA, and suppresses the address
//   for the account as COMPLAINT. The mail is the one the envelope's return path names, else the
//   report's Original-Mail-From, else the Return-Path of the original it returns (each a token
//   with a right MAC); a second report about one mail is counted, not recorded again;
// - an automatic reply is recorded in the log and counted, never a bounce;
// - what cannot be read (and a complaint that names no mail of ours) is counted and kept for
//   inspection (app/kept_messages.h);
// - a message to u-<token>@<[bounces] domain> (the mailto of a hosted List-Unsubscribe, its
//   token's MAC right: api/unsubscribe.h) unsubscribes the mail's recipient, whatever it says.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "app/kept_messages.h"
#include "events/event_log.h"
#include "mime/report.h"
#include "smtp/server/server_context.h"
#include "tenancy/return_path.h"
#include "tenancy/suppression.h"

namespace txmail::api {
class Unsubscribes;
}

namespace txmail::app {

struct InboundStats {
  std::uint64_t messages = 0;      // received
  std::uint64_t bounces = 0;       // events made from bounces
  std::uint64_t auto_replies = 0;  // automatic replies (no event)
  std::uint64_t complaints = 0;    // feedback reports received
  std::uint64_t complained = 0;    // COMPLAINED events made from them
  std::uint64_t unreadable = 0;    // neither a report nor a known bounce form
  std::uint64_t unknown_mail = 0;  // a report whose mail the log does not know (or none named)
  std::uint64_t kept = 0;          // messages in the store of unreadable ones, and their bytes
  std::uint64_t kept_bytes = 0;
  std::uint64_t kept_dropped = 0;  // the oldest, removed to make room
  std::uint64_t rejected = 0;      // recipients refused at RCPT (forged or altered tokens too)
};

struct InboundSettings {
  std::string domain;            // the return paths' domain: A-label, lower case
  std::string feedback_address;  // lower case; "": none
};

class InboundHandler {
 public:
  // `kept`: where unreadable messages go; null: they are only counted and logged.
  InboundHandler(tenancy::ReturnPath return_path, InboundSettings settings, events::EventLog& log,
                 tenancy::SuppressionList& suppressions, KeptMessages* kept)
      : return_path_(std::move(return_path)),
        settings_(std::move(settings)),
        log_(log),
        suppressions_(suppressions),
        kept_(kept) {}

  // Before the listener starts: return-path domains accepted besides the bounce domain
  // (customers' verified bounce.<domain> subdomains; A-label, lower case).
  void also_accept(std::function<bool(std::string_view domain)> domains) {
    also_accept_ = std::move(domains);
  }

  // Before the listener starts: take u-<token>@<domain> for these hosted unsubscribes.
  void unsubscribe_with(api::Unsubscribes* unsubscribes) { unsubscribes_ = unsubscribes; }

  // "b-<token>@<domain>" (or a domain also accepted) with a right MAC, the feedback address,
  // or "u-<token>@<domain>" with a right MAC; any thread.
  bool accepts(const std::string& address) const;
  // On the worker pool: reads the message and records what it says for each recipient.
  smtp::InboundReply receive(const std::string& message, const std::vector<std::string>& all);
  InboundStats stats() const;

 private:
  std::optional<std::string> mail_id_of(const std::string& address) const;
  // The mail an unsubscribe address (u-<token>@<domain>) names.
  std::optional<std::string> unsubscribe_mail_id(const std::string& address) const;
  // Records the unsubscribes the recipients name; the other recipients are left in `rcpts`.
  std::optional<smtp::InboundReply> unsubscribe(std::vector<std::string>& rcpts);
  // The mail a complaint is about: the envelope's return path, else the report's own fields.
  std::optional<std::string> complaint_mail_id(const mime::Report& report,
                                               const std::vector<std::string>& rcpts) const;
  smtp::InboundReply bounce(const mime::Report& report, const std::vector<std::string>& rcpts);
  smtp::InboundReply complaint(const mime::Report& report, const std::string& message,
                               const std::vector<std::string>& rcpts);
  void keep(const std::string& message, std::string_view what);

  tenancy::ReturnPath return_path_;
  InboundSettings settings_;
  std::function<bool(std::string_view domain)> also_accept_;
  events::EventLog& log_;
  tenancy::SuppressionList& suppressions_;
  KeptMessages* kept_;
  api::Unsubscribes* unsubscribes_ = nullptr;
  std::atomic<std::uint64_t> messages_{0}, bounces_{0}, auto_replies_{0}, complaints_{0},
      complained_{0}, unreadable_{0}, unknown_mail_{0};
  mutable std::atomic<std::uint64_t> rejected_{0};  // counted by accepts()
};

}  // namespace txmail::app
