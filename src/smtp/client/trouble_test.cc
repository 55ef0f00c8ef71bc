#include "smtp/client/trouble.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace txmail::smtp {
namespace {

using S = SuppressionClass;

struct Case {
  Stage stage;
  int code;
  const char* enhanced;
  Decision decision;
  Scope scope;
  bool next_mx;
  S suppression;
};

TEST(Trouble, Table) {
  constexpr auto kD = Decision::kDelivered;
  constexpr auto kF = Decision::kDeferred;
  constexpr auto kB = Decision::kBounced;
  constexpr auto kSite = Scope::kDestinationSite;
  const Case cases[] = {
      {Stage::kDataEnd, 250, "2.0.0", kD, Scope::kRecipient, false, S::kNone},
      {Stage::kRcpt, 250, "2.1.5", kD, Scope::kRecipient, false, S::kNone},
      {Stage::kRcpt, 550, "5.1.1", kB, Scope::kRecipient, false, S::kNoSuchUser},
      {Stage::kRcpt, 553, "5.1.7", kB, Scope::kRecipient, false, S::kNone},  // the sender
      {Stage::kRcpt, 550, "5.1.8", kB, Scope::kRecipient, false, S::kNone},  // the sender
      {Stage::kRcpt, 450, "4.2.1", kF, Scope::kRecipient, false, S::kNone},
      {Stage::kRcpt, 452, "4.5.3", kF, Scope::kRecipient, false, S::kNone},
      {Stage::kRcpt, 552, "5.5.3", kF, Scope::kRecipient, false, S::kNone},  // = 452
      {Stage::kRcpt, 552, "5.2.2", kF, Scope::kRecipient, false, S::kNone},
      {Stage::kRcpt, 550, "5.2.2", kB, Scope::kRecipient, false, S::kMailboxFull},
      {Stage::kRcpt, 550, "5.7.1", kB, Scope::kRecipient, false, S::kOtherPermanent},
      {Stage::kRcpt, 421, "4.3.2", kF, kSite, false, S::kNone},
      {Stage::kGreeting, 220, "", kD, Scope::kRecipient, false, S::kNone},
      {Stage::kGreeting, 421, "4.3.2", kF, kSite, true, S::kNone},
      {Stage::kGreeting, 554, "5.7.1", kF, kSite, true, S::kNone},
      {Stage::kGreeting, 250, "", kF, kSite, true, S::kNone},  // not a greeting
      {Stage::kEhlo, 450, "", kF, kSite, true, S::kNone},
      {Stage::kEhlo, 550, "", kB, kSite, false, S::kNone},
      {Stage::kStartTls, 454, "4.7.0", kF, kSite, true, S::kNone},
      {Stage::kStartTls, 554, "5.7.3", kF, kSite, true, S::kNone},
      {Stage::kMail, 553, "5.1.8", kB, Scope::kMessage, false, S::kNone},  // the sender
      {Stage::kMail, 452, "4.3.1", kF, kSite, false, S::kNone},
      {Stage::kMail, 451, "4.4.0", kF, kSite, false, S::kNone},
      {Stage::kMail, 550, "5.4.4", kB, Scope::kMessage, false, S::kNone},
      {Stage::kData, 354, "", kD, Scope::kRecipient, false, S::kNone},
      {Stage::kData, 250, "", kF, Scope::kConnection, false, S::kNone},  // not 354
      {Stage::kData, 554, "5.5.1", kB, Scope::kMessage, false, S::kOtherPermanent},
      {Stage::kDataEnd, 552, "5.3.4", kB, Scope::kMessage, false, S::kNone},
      {Stage::kDataEnd, 452, "4.3.4", kF, Scope::kMessage, false, S::kNone},
      {Stage::kDataEnd, 451, "4.3.0", kF, kSite, false, S::kNone},
      {Stage::kDataEnd, 554, "5.6.0", kB, Scope::kMessage, false, S::kOtherPermanent},
      {Stage::kDataEnd, 451, "4.7.1", kF, Scope::kMessage, false, S::kNone},
      {Stage::kDataEnd, 550, "5.1.1", kB, Scope::kMessage, false, S::kNoSuchUser},
      {Stage::kDataEnd, 554, "5.1.8", kB, Scope::kMessage, false, S::kNone},  // the sender
      {Stage::kDataEnd, 552, "", kB, Scope::kMessage, false, S::kMailboxFull},
      {Stage::kDataEnd, 552, "5.2.2", kB, Scope::kMessage, false, S::kMailboxFull},
      {Stage::kDataEnd, 354, "", kF, Scope::kConnection, false, S::kNone},
  };
  for (const auto& c : cases) {
    const Verdict v = classify_reply(c.stage, Reply(c.code, c.enhanced, "text"));
    const Verdict want{c.decision, c.scope, c.next_mx, c.suppression};
    EXPECT_EQ(v, want) << c.code << " " << c.enhanced << " stage " << static_cast<int>(c.stage)
                       << ": got decision " << static_cast<int>(v.decision) << " scope "
                       << static_cast<int>(v.scope) << " next_mx " << v.next_mx << " suppression "
                       << to_string(v.suppression);
  }
}

TEST(Trouble, WithoutAReply) {
  const Verdict site{Decision::kDeferred, Scope::kDestinationSite, true, S::kNone};
  for (auto stage : {Stage::kConnect, Stage::kGreeting, Stage::kEhlo, Stage::kStartTls}) {
    EXPECT_EQ(classify_failure(stage), site) << static_cast<int>(stage);
  }
  const Verdict connection{Decision::kDeferred, Scope::kConnection, false, S::kNone};
  for (auto stage : {Stage::kMail, Stage::kRcpt, Stage::kData, Stage::kDataEnd}) {
    EXPECT_EQ(classify_failure(stage), connection) << static_cast<int>(stage);
  }
  EXPECT_EQ(classify_reply(Stage::kRcpt, Reply(999, "", "junk")), connection);
  EXPECT_EQ(classify_missing(Stage::kStartTls), site);
  EXPECT_EQ(classify_missing(Stage::kMail),
            (Verdict{Decision::kBounced, Scope::kMessage, false, S::kNone}));
}

TEST(Trouble, Subtypes) {
  EXPECT_EQ(subtype(Decision::kDelivered), "OK");
  EXPECT_EQ(subtype(Decision::kDeferred), "SOFT_BOUNCE");
  EXPECT_EQ(subtype(Decision::kBounced), "HARD_BOUNCE");
}

// docs/delivery.md shows the table the code runs: the rows between its header and the first
// line that is not a table row must be reply_table_markdown()'s, to the character.
TEST(Trouble, DocsShowTheTable) {
  std::ifstream in(std::string(TXMAIL_SOURCE_DIR) + "/docs/delivery.md");
  ASSERT_TRUE(in) << "docs/delivery.md not found under " << TXMAIL_SOURCE_DIR;
  const std::string table = reply_table_markdown();
  const std::string header = table.substr(0, table.find('\n'));
  std::string line;
  std::string found;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line == header) {
      inside = true;
    }
    if (inside) {
      if (!line.starts_with("|")) {
        break;
      }
      found += line + "\n";
    }
  }
  EXPECT_EQ(found, table) << "docs/delivery.md's reply table differs from the code; the code's:\n"
                          << table;
}

}  // namespace
}  // namespace txmail::smtp
