// Reply classification for outbound delivery: the whole failure policy of the SMTP client in
// one table (after Postfix's smtp_trouble.c). Every answer at every stage of a transaction (a
// reply, no reply at all, or an extension the peer lacks) maps to one Verdict, and delivery
// does what the verdict says and nothing else:
//   - decision: go on (delivered at end of data), defer (retry later) or bounce (final);
//   - next_mx: the MX walk tries the next host (only while opening a connection);
//   - scope: recipient and message: only the recipients it answers; connection: those, and the
//     connection is not reused; destination site: every unit waiting for the site gets the
//     verdict, the connection is closed, and a deferral backs the site off as a whole (after
//     the last MX host, when next_mx);
//   - suppression: which suppression entry a bounce puts on the recipient, if any.
// The event subtype follows from the decision (subtype()). docs/delivery.md holds the table as
// reply_table_markdown() renders it; trouble_test.cc checks that they agree.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "smtp/proto/reply.h"

namespace txmail::smtp {

// Where in the client dialog an answer was received.
enum class Stage { kConnect, kGreeting, kEhlo, kStartTls, kMail, kRcpt, kData, kDataEnd };

enum class Decision { kDelivered, kDeferred, kBounced };

// The suppression entry a bounce adds (tenancy/suppression.h gives each its duration).
enum class SuppressionClass { kNone, kNoSuchUser, kMailboxFull, kOtherPermanent };

struct Verdict {
  Decision decision = Decision::kDeferred;
  Scope scope = Scope::kConnection;
  bool next_mx = false;
  SuppressionClass suppression = SuppressionClass::kNone;

  bool operator==(const Verdict&) const = default;
};

Verdict classify_reply(Stage stage, const Reply& reply);
// No reply: refused, reset, closed, timed out, malformed, TLS handshake failed.
Verdict classify_failure(Stage stage);
// Nothing to ask: the peer lacks what the TLS policy (STARTTLS) or the message (SIZE, SMTPUTF8,
// 8BITMIME) needs.
Verdict classify_missing(Stage stage);

// The event subtype of an decision: OK, SOFT_BOUNCE or HARD_BOUNCE.
std::string_view subtype(Decision decision);
std::string_view to_string(SuppressionClass c);

// The table as docs/delivery.md shows it: a header, then one row per rule, first match wins.
std::string reply_table_markdown();

}  // namespace txmail::smtp
