// One-click unsubscribe that txmail hosts (issue bounce-1, item 5; RFC 8058, RFC 2369).
//
// An account with `unsubscribe` on gets, in each REST job message addressed to one recipient,
//   List-Unsubscribe: <https://<[bounces] unsubscribe_url>/u/<token>>,
//                     <mailto:u-<token>@<[bounces] domain>?subject=unsubscribe>
//   List-Unsubscribe-Post: List-Unsubscribe=One-Click
// where the token names the recipient's mail id under its own MAC (tenancy/return_path.h,
// "u-" tokens). The API serves /u/<token> without credentials (the token is the credential):
// GET answers a small page with a button and changes nothing (link scanners fetch every URL);
// POST with the body List-Unsubscribe=One-Click records the unsubscribe. The inbound listener
// takes u-<token>@<bounce domain> the same way (app/inbound.h).
//
// Recording is idempotent: one POST_PROCESS/POST_DELIVERY/UNSUBSCRIBED/UNSUBSCRIBE event per
// mail id, and the address goes on the account's suppression list as UNSUBSCRIBED (a job to it
// drops it as DROPPED/PREVIOUSLY_UNSUBSCRIBED). Calls are serialized (one mutex): two POSTs at
// once make one event. A token whose MAC is wrong, or whose mail the event log no longer knows,
// answers 404 and records nothing, alike.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"
#include "events/event_log.h"
#include "tenancy/return_path.h"
#include "tenancy/suppression.h"

namespace txmail::api {

struct UnsubscribeLinks {
  std::string https;   // https://.../u/<token>
  std::string mailto;  // mailto:u-<token>@<domain>?subject=unsubscribe
};

class Unsubscribes {
 public:
  // `base_url`: [bounces] unsubscribe_url (no trailing '/'); `domain`: [bounces] domain.
  Unsubscribes(tenancy::ReturnPath tokens, std::string base_url, std::string domain,
               events::EventLog& log, tenancy::SuppressionList& suppressions)
      : tokens_(std::move(tokens)),
        base_url_(std::move(base_url)),
        domain_(std::move(domain)),
        log_(log),
        suppressions_(suppressions) {}

  // The links of one recipient's message; nullopt for a mail id that is not txmail's.
  std::optional<UnsubscribeLinks> links(const std::string& mail_id) const;

  // The mail id a local part "u-<token>" names, when its MAC is right.
  std::optional<std::string> mail_id(std::string_view local_part) const {
    return tokens_.mail_id(local_part);
  }

  const std::string& domain() const { return domain_; }

  enum class Outcome { kRecorded, kAlready, kUnknown, kFailed };
  // Records the unsubscribe of the mail's recipient; `how` goes in the event's description.
  // Blocks on the event log and the config store (a worker thread).
  Outcome record(const std::string& mail_id, const std::string& how);

  // GET or POST /u/{token} (`token` without "u-").
  Response handle(const Request& r, const std::string& token);

  // handle(), answered through `done`; a POST's answer once the events it recorded are stored
  // (in cluster mode in the region's stream too), so that a 200 is never only in memory.
  void respond(const Request& r, const std::string& token, std::function<void(Response)> done);

  static constexpr std::size_t kMaxBody = 4096;

 private:
  tenancy::ReturnPath tokens_;
  std::string base_url_;
  std::string domain_;
  events::EventLog& log_;
  tenancy::SuppressionList& suppressions_;
  std::mutex mutex_;
};

}  // namespace txmail::api
