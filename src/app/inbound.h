// What comes back to the return paths (issue bounce-1, items 2-4, first part): the handler of
// [[smtp.listener]] mode = "inbound". A recipient is accepted only when it is a return path this
// node made (b-<token>@<[bounces] domain>, the token's MAC right: tenancy/return_path.h); the
// message is read (mime/report.h) and, for a bounce of a mail txmail sent, the recipient gets
// DELIVER/FINISHED/BOUNCED/HARD_BOUNCE (or SOFT_BOUNCE), even after DELIVERED, with the report's
// status and diagnostic, and a hard bounce puts the address on the account's suppression list,
// as a bounce at delivery does. Automatic replies are recorded in the log and counted, never a
// bounce; complaints (ARF) and what cannot be read are counted and logged (not yet events).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "smtp/server/server_context.h"
#include "tenancy/return_path.h"
#include "tenancy/suppression.h"

namespace txmail::app {

struct InboundStats {
  std::uint64_t messages = 0;      // received
  std::uint64_t bounces = 0;       // events made from bounces
  std::uint64_t auto_replies = 0;  // automatic replies (no event)
  std::uint64_t complaints = 0;    // feedback reports (counted; not yet events)
  std::uint64_t unreadable = 0;    // neither a report nor a known bounce form
  std::uint64_t unknown_mail = 0;  // a valid return path whose mail the log does not know
};

class InboundHandler {
 public:
  InboundHandler(tenancy::ReturnPath return_path, std::string domain, events::EventLog& log,
                 tenancy::SuppressionList& suppressions)
      : return_path_(std::move(return_path)),
        domain_(std::move(domain)),
        log_(log),
        suppressions_(suppressions) {}

  // Before the listener starts: return-path domains accepted besides `domain` (customers'
  // verified bounce.<domain> subdomains; A-label, lower case).
  void also_accept(std::function<bool(std::string_view domain)> domains) {
    also_accept_ = std::move(domains);
  }

  // "b-<token>@<domain>" (or one also accepted) with a right MAC; any thread.
  bool accepts(const std::string& address) const;
  // On the worker pool: reads the message and records what it says for each recipient.
  smtp::InboundReply receive(const std::string& message, const std::vector<std::string>& rcpts);
  InboundStats stats() const;

 private:
  std::optional<std::string> mail_id_of(const std::string& address) const;

  tenancy::ReturnPath return_path_;
  std::string domain_;  // A-label, lower case
  std::function<bool(std::string_view domain)> also_accept_;
  events::EventLog& log_;
  tenancy::SuppressionList& suppressions_;
  std::atomic<std::uint64_t> messages_{0}, bounces_{0}, auto_replies_{0}, complaints_{0},
      unreadable_{0}, unknown_mail_{0};
};

}  // namespace txmail::app
