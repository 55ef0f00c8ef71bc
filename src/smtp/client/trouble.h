// Reply classification for outbound delivery: the whole failure policy of the SMTP client in
// one place (after Postfix's smtp_trouble.c). Every reply, at every stage of a transaction,
// maps to: final or retryable, the scope it applies to (connection, destination site,
// message, recipient), and the event subtype it produces. docs/delivery.md has the table.
#pragma once

#include <string_view>

#include "common/error.h"
#include "smtp/proto/reply.h"

namespace txmail::smtp {

// Where in the client dialog a reply was received.
enum class Stage { kConnect, kGreeting, kEhlo, kStartTls, kMail, kRcpt, kData, kDataEnd, kRset };

enum class Outcome { kDelivered, kDeferred, kBounced };

struct Verdict {
  Outcome outcome;
  Scope scope;
  std::string_view subtype;  // event subtype: OK, SOFT_BOUNCE or HARD_BOUNCE
};

Verdict classify_reply(Stage stage, const Reply& reply);
// A failure that produced no reply (refused, reset, timed out, TLS failed): always retryable.
Verdict classify_failure(Stage stage);

}  // namespace txmail::smtp
