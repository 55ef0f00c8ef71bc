#include "smtp/client/trouble.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>

namespace txmail::smtp {

namespace {

enum class Answer { kReply, kNone, kMissing };

using Stages = std::uint16_t;

constexpr Stages bit(Stage s) {
  return static_cast<Stages>(1U << static_cast<unsigned>(s));
}

constexpr Stages kConnect = bit(Stage::kConnect);
constexpr Stages kGreeting = bit(Stage::kGreeting);
constexpr Stages kEhlo = bit(Stage::kEhlo);
constexpr Stages kStartTls = bit(Stage::kStartTls);
constexpr Stages kMail = bit(Stage::kMail);
constexpr Stages kRcpt = bit(Stage::kRcpt);
constexpr Stages kData = bit(Stage::kData);
constexpr Stages kDataEnd = bit(Stage::kDataEnd);
constexpr Stages kOpening = kGreeting | kEhlo | kStartTls;
constexpr Stages kTransaction = kMail | kRcpt | kData | kDataEnd;

// One rule: which answers it matches and what delivery does with them. `code` and `enhanced`
// are patterns, an 'x' matching any digit or field ("4xx", "x.3.x"); an empty `enhanced`
// matches any enhanced code, "none" only a reply without one.
struct Rule {
  Stages stages;
  Answer answer;
  std::string_view code;
  std::string_view enhanced;
  Verdict verdict;
};

constexpr Verdict kGoOn{Decision::kDelivered, Scope::kRecipient, false, SuppressionClass::kNone};
constexpr Verdict kNextMx{Decision::kDeferred, Scope::kDestinationSite, true,
                          SuppressionClass::kNone};
constexpr Verdict kDeferSite{Decision::kDeferred, Scope::kDestinationSite, false,
                             SuppressionClass::kNone};
constexpr Verdict kDeferMessage{Decision::kDeferred, Scope::kMessage, false,
                                SuppressionClass::kNone};
constexpr Verdict kDeferRecipient{Decision::kDeferred, Scope::kRecipient, false,
                                  SuppressionClass::kNone};
constexpr Verdict kDeferConnection{Decision::kDeferred, Scope::kConnection, false,
                                   SuppressionClass::kNone};

constexpr Verdict bounce(Scope scope, SuppressionClass suppression) {
  return {Decision::kBounced, scope, false, suppression};
}

// The table. First match wins; each part (opening, transaction) catches every answer.
constexpr std::array kRules = {
    // Opening a connection: a host that cannot take mail now sends the walk to the next MX.
    Rule{kConnect | kOpening, Answer::kNone, "", "", kNextMx},
    Rule{kGreeting | kStartTls, Answer::kReply, "220", "", kGoOn},
    Rule{kEhlo, Answer::kReply, "250", "", kGoOn},
    Rule{kOpening, Answer::kReply, "4xx", "", kNextMx},
    // A 5xx greeting or STARTTLS refusal is about this host, not the recipient: the next MX,
    // and later, rather than a bounce.
    Rule{kGreeting | kStartTls, Answer::kReply, "5xx", "", kNextMx},
    // A 5xx to EHLO and HELO refuses us (our name, our address) at this site: every unit
    // waiting for it bounces.
    Rule{kEhlo, Answer::kReply, "5xx", "",
         bounce(Scope::kDestinationSite, SuppressionClass::kNone)},
    Rule{kStartTls, Answer::kMissing, "", "", kNextMx},  // the TLS policy requires it
    Rule{kOpening, Answer::kReply, "xxx", "", kNextMx},
    // A transaction.
    Rule{kMail | kRcpt, Answer::kReply, "2xx", "", kGoOn},
    Rule{kData, Answer::kReply, "354", "", kGoOn},
    Rule{kDataEnd, Answer::kReply, "2xx", "", kGoOn},
    Rule{kTransaction, Answer::kReply, "421", "", kDeferSite},  // the server is closing
    // RFC 5321 section 4.5.3.1.10: 552 to RCPT has long meant "too many recipients"; treat it
    // as 452, a reason to send the rest in another transaction.
    Rule{kRcpt, Answer::kReply, "552", "", kDeferRecipient},
    Rule{kRcpt, Answer::kReply, "4xx", "", kDeferRecipient},
    // x.1.7 and x.1.8 (RFC 3463) refuse the sender's address, not the recipient's: the
    // recipient bounces with this message but is not suppressed.
    Rule{kRcpt, Answer::kReply, "5xx", "x.1.7", bounce(Scope::kRecipient, SuppressionClass::kNone)},
    Rule{kRcpt, Answer::kReply, "5xx", "x.1.8", bounce(Scope::kRecipient, SuppressionClass::kNone)},
    Rule{kRcpt, Answer::kReply, "5xx", "x.1.x",
         bounce(Scope::kRecipient, SuppressionClass::kNoSuchUser)},
    Rule{kRcpt, Answer::kReply, "5xx", "x.2.2",
         bounce(Scope::kRecipient, SuppressionClass::kMailboxFull)},
    Rule{kRcpt, Answer::kReply, "5xx", "",
         bounce(Scope::kRecipient, SuppressionClass::kOtherPermanent)},
    // MAIL and after: a system or network problem (x.3.x, x.4.x) is about the site, except
    // x.3.4, "this message is too big for the system".
    Rule{kMail | kData | kDataEnd, Answer::kReply, "4xx", "x.3.4", kDeferMessage},
    Rule{kMail | kData | kDataEnd, Answer::kReply, "4xx", "x.3.x", kDeferSite},
    Rule{kMail | kData | kDataEnd, Answer::kReply, "4xx", "x.4.x", kDeferSite},
    Rule{kMail | kData | kDataEnd, Answer::kReply, "4xx", "", kDeferMessage},
    // A 5xx to MAIL refuses the sender or the message, never the recipient: no suppression.
    Rule{kMail, Answer::kReply, "5xx", "", bounce(Scope::kMessage, SuppressionClass::kNone)},
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "x.3.4",
         bounce(Scope::kMessage, SuppressionClass::kNone)},  // too big: not the recipient's
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "x.1.7",
         bounce(Scope::kMessage, SuppressionClass::kNone)},
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "x.1.8",
         bounce(Scope::kMessage, SuppressionClass::kNone)},
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "x.1.x",
         bounce(Scope::kMessage, SuppressionClass::kNoSuchUser)},
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "x.2.2",
         bounce(Scope::kMessage, SuppressionClass::kMailboxFull)},
    Rule{kData | kDataEnd, Answer::kReply, "552", "none",
         bounce(Scope::kMessage, SuppressionClass::kMailboxFull)},
    Rule{kData | kDataEnd, Answer::kReply, "5xx", "",
         bounce(Scope::kMessage, SuppressionClass::kOtherPermanent)},
    // SIZE over the peer's limit, SMTPUTF8 or 8BITMIME needed and not offered (RFC 6531
    // section 3.2, RFC 6152): the message cannot go to this peer as it is.
    Rule{kMail, Answer::kMissing, "", "", bounce(Scope::kMessage, SuppressionClass::kNone)},
    Rule{kTransaction, Answer::kNone, "", "", kDeferConnection},
    Rule{kTransaction, Answer::kReply, "xxx", "", kDeferConnection},
};

bool code_matches(std::string_view pattern, int code) {
  const std::string digits = std::to_string(code);
  if (digits.size() != pattern.size()) {
    return false;
  }
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != 'x' && pattern[i] != digits[i]) {
      return false;
    }
  }
  return true;
}

// "x.3.x" against "4.3.2", field by field.
bool enhanced_matches(std::string_view pattern, std::string_view enhanced) {
  if (pattern.empty()) {
    return true;
  }
  if (pattern == "none") {
    return enhanced.empty();
  }
  while (!pattern.empty()) {
    const std::size_t pd = pattern.find('.');
    const std::size_t ed = enhanced.find('.');
    const std::string_view p = pattern.substr(0, pd);
    const std::string_view e = enhanced.substr(0, ed);
    if (e.empty() || (p != "x" && p != e)) {
      return false;
    }
    if ((pd == std::string_view::npos) != (ed == std::string_view::npos)) {
      return false;
    }
    if (pd == std::string_view::npos) {
      return true;
    }
    pattern.remove_prefix(pd + 1);
    enhanced.remove_prefix(ed + 1);
  }
  return false;
}

const Rule& match(Stage stage, Answer answer, const Reply* reply) {
  for (const Rule& r : kRules) {
    if ((r.stages & bit(stage)) == 0 || r.answer != answer) {
      continue;
    }
    if (reply != nullptr
        && (!code_matches(r.code, reply->code) || !enhanced_matches(r.enhanced, reply->enhanced))) {
      continue;
    }
    return r;
  }
  // Unreachable while every stage has its catch-all rows (trouble_test.cc walks them all).
  static constexpr Rule kFallback{0, Answer::kNone, "", "", kDeferConnection};
  return kFallback;
}

std::string_view stage_name(Stage s) {
  switch (s) {
    case Stage::kConnect:
      return "connect";
    case Stage::kGreeting:
      return "greeting";
    case Stage::kEhlo:
      return "EHLO/HELO";
    case Stage::kStartTls:
      return "STARTTLS";
    case Stage::kMail:
      return "MAIL";
    case Stage::kRcpt:
      return "RCPT";
    case Stage::kData:
      return "DATA";
    case Stage::kDataEnd:
      return "end of data";
  }
  return "?";
}

std::string_view scope_name(Scope s) {
  switch (s) {
    case Scope::kNode:
      return "node";
    case Scope::kConnection:
      return "connection";
    case Scope::kDestinationSite:
      return "destination site";
    case Scope::kMessage:
      return "message";
    case Scope::kRecipient:
      return "recipient";
  }
  return "?";
}

std::string answer_text(const Rule& r) {
  switch (r.answer) {
    case Answer::kNone:
      return "no reply";
    case Answer::kMissing:
      return "extension not offered";
    case Answer::kReply:
      break;
  }
  if (r.code == "xxx") {
    return "any other reply";
  }
  if (r.enhanced.empty()) {
    return std::string(r.code);
  }
  if (r.enhanced == "none") {
    return std::string(r.code) + " without enhanced code";
  }
  return std::string(r.code) + " " + std::string(r.enhanced);
}

std::string outcome_text(const Rule& r) {
  switch (r.verdict.decision) {
    case Decision::kDelivered:
      return (r.stages & kDataEnd) != 0 ? "delivered" : "go on";
    case Decision::kDeferred:
      return "deferred";
    case Decision::kBounced:
      return "bounced";
  }
  return "?";
}

}  // namespace

Verdict classify_reply(Stage stage, const Reply& reply) {
  return match(stage, Answer::kReply, &reply).verdict;
}

Verdict classify_failure(Stage stage) {
  return match(stage, Answer::kNone, nullptr).verdict;
}

Verdict classify_missing(Stage stage) {
  return match(stage, Answer::kMissing, nullptr).verdict;
}

std::string_view subtype(Decision decision) {
  switch (decision) {
    case Decision::kDelivered:
      return "OK";
    case Decision::kDeferred:
      return "SOFT_BOUNCE";
    case Decision::kBounced:
      return "HARD_BOUNCE";
  }
  return "?";
}

std::string_view to_string(SuppressionClass c) {
  switch (c) {
    case SuppressionClass::kNone:
      return "none";
    case SuppressionClass::kNoSuchUser:
      return "no such user";
    case SuppressionClass::kMailboxFull:
      return "mailbox full";
    case SuppressionClass::kOtherPermanent:
      return "other permanent";
  }
  return "?";
}

std::string reply_table_markdown() {
  std::string out =
      "| stage | reply | decision | next MX | scope | suppression | event subtype |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const Rule& r : kRules) {
    std::string stages;
    for (int s = 0; s <= static_cast<int>(Stage::kDataEnd); ++s) {
      if ((r.stages & bit(static_cast<Stage>(s))) != 0) {
        stages += (stages.empty() ? "" : ", ") + std::string(stage_name(static_cast<Stage>(s)));
      }
    }
    const bool going_on = r.verdict.decision == Decision::kDelivered && (r.stages & kDataEnd) == 0;
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", stages, answer_text(r),
                       outcome_text(r), r.verdict.next_mx ? "yes" : "no",
                       going_on ? "-" : scope_name(r.verdict.scope),
                       going_on ? "-" : to_string(r.verdict.suppression),
                       going_on ? "-" : subtype(r.verdict.decision));
  }
  return out;
}

}  // namespace txmail::smtp
