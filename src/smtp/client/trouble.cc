#include "smtp/client/trouble.h"

#include <charconv>

namespace txmail::smtp {

namespace {

// Enhanced status code parts ("5.1.1" → class 5, subject 1, detail 1); zeros when absent.
struct Enhanced {
  int cls = 0;
  int subject = 0;
  int detail = 0;
};

Enhanced parse_enhanced(std::string_view e) {
  Enhanced out;
  int* parts[] = {&out.cls, &out.subject, &out.detail};
  for (int* part : parts) {
    const std::size_t dot = e.find('.');
    const std::string_view field = e.substr(0, dot);
    std::from_chars(field.data(), field.data() + field.size(), *part);
    if (dot == std::string_view::npos) {
      break;
    }
    e.remove_prefix(dot + 1);
  }
  return out;
}

// Scope of a permanent or temporary reply by the stage it came at and, where it says more,
// its enhanced code (RFC 3463: subject 1 addressing, 2 mailbox, 3 mail system, 4 network and
// routing, 5 protocol, 6 content, 7 security).
Scope scope_of(Stage stage, const Enhanced& e) {
  switch (stage) {
    case Stage::kConnect:
    case Stage::kGreeting:
    case Stage::kEhlo:
    case Stage::kStartTls:
      return Scope::kDestinationSite;
    case Stage::kRcpt:
      return Scope::kRecipient;
    case Stage::kMail:
    case Stage::kData:
    case Stage::kDataEnd:
      // A mailbox problem reported late (x.1.x, x.2.x) is still about the message's
      // recipients; a system or network problem (x.3.x, x.4.x) is about the site.
      if (e.subject == 3 && e.detail == 4) {
        return Scope::kMessage;  // x.3.4: this message is too big for the system
      }
      if (e.subject == 3 || e.subject == 4) {
        return Scope::kDestinationSite;
      }
      return Scope::kMessage;
    case Stage::kRset:
      return Scope::kConnection;
  }
  return Scope::kMessage;
}

}  // namespace

Verdict classify_reply(Stage stage, const Reply& reply) {
  const Enhanced e = parse_enhanced(reply.enhanced);
  if (reply.code >= 200 && reply.code < 400) {
    return {Outcome::kDelivered, Scope::kRecipient, "OK"};
  }
  int code = reply.code;
  // RFC 5321 section 4.5.3.1.10: 552 to RCPT has long meant "too many recipients"; treat it
  // as 452, a reason to send the rest in another transaction.
  if (stage == Stage::kRcpt && code == 552) {
    code = 452;
  }
  if (code >= 400 && code < 500) {
    return {Outcome::kDeferred, scope_of(stage, e), "SOFT_BOUNCE"};
  }
  if (code >= 500 && code < 600) {
    // A 5xx greeting, EHLO or STARTTLS refusal is about this host, not the recipient: try the
    // next MX, and later, rather than bounce.
    if (stage == Stage::kConnect || stage == Stage::kGreeting || stage == Stage::kStartTls) {
      return {Outcome::kDeferred, Scope::kDestinationSite, "SOFT_BOUNCE"};
    }
    return {Outcome::kBounced, scope_of(stage, e), "HARD_BOUNCE"};
  }
  // Not a valid reply at all: a broken peer; retry later.
  return {Outcome::kDeferred, Scope::kConnection, "SOFT_BOUNCE"};
}

Verdict classify_failure(Stage stage) {
  return {Outcome::kDeferred,
          stage == Stage::kConnect ? Scope::kDestinationSite : Scope::kConnection, "SOFT_BOUNCE"};
}

}  // namespace txmail::smtp
