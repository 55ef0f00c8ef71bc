#include "smtp/client/trouble.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

struct Case {
  Stage stage;
  int code;
  const char* enhanced;
  Outcome outcome;
  Scope scope;
  const char* subtype;
};

TEST(Trouble, Table) {
  const Case cases[] = {
      {Stage::kDataEnd, 250, "2.0.0", Outcome::kDelivered, Scope::kRecipient, "OK"},
      {Stage::kRcpt, 250, "2.1.5", Outcome::kDelivered, Scope::kRecipient, "OK"},
      {Stage::kRcpt, 550, "5.1.1", Outcome::kBounced, Scope::kRecipient, "HARD_BOUNCE"},
      {Stage::kRcpt, 450, "4.2.1", Outcome::kDeferred, Scope::kRecipient, "SOFT_BOUNCE"},
      {Stage::kRcpt, 452, "4.5.3", Outcome::kDeferred, Scope::kRecipient, "SOFT_BOUNCE"},
      {Stage::kRcpt, 552, "5.5.3", Outcome::kDeferred, Scope::kRecipient, "SOFT_BOUNCE"},  // = 452
      {Stage::kRcpt, 552, "5.2.2", Outcome::kDeferred, Scope::kRecipient, "SOFT_BOUNCE"},
      {Stage::kGreeting, 421, "4.3.2", Outcome::kDeferred, Scope::kDestinationSite, "SOFT_BOUNCE"},
      {Stage::kGreeting, 554, "5.7.1", Outcome::kDeferred, Scope::kDestinationSite, "SOFT_BOUNCE"},
      {Stage::kEhlo, 550, "", Outcome::kBounced, Scope::kDestinationSite, "HARD_BOUNCE"},
      {Stage::kMail, 553, "5.1.8", Outcome::kBounced, Scope::kMessage, "HARD_BOUNCE"},
      {Stage::kMail, 452, "4.3.1", Outcome::kDeferred, Scope::kDestinationSite, "SOFT_BOUNCE"},
      {Stage::kDataEnd, 552, "5.3.4", Outcome::kBounced, Scope::kMessage, "HARD_BOUNCE"},
      {Stage::kDataEnd, 451, "4.3.0", Outcome::kDeferred, Scope::kDestinationSite, "SOFT_BOUNCE"},
      {Stage::kDataEnd, 554, "5.6.0", Outcome::kBounced, Scope::kMessage, "HARD_BOUNCE"},
      {Stage::kDataEnd, 451, "4.7.1", Outcome::kDeferred, Scope::kMessage, "SOFT_BOUNCE"},
      {Stage::kData, 554, "5.5.1", Outcome::kBounced, Scope::kMessage, "HARD_BOUNCE"},
      {Stage::kRset, 421, "4.4.2", Outcome::kDeferred, Scope::kConnection, "SOFT_BOUNCE"},
  };
  for (const auto& c : cases) {
    const Verdict v = classify_reply(c.stage, Reply(c.code, c.enhanced, "text"));
    EXPECT_EQ(v.outcome, c.outcome)
        << c.code << " " << c.enhanced << " stage " << static_cast<int>(c.stage);
    EXPECT_EQ(v.scope, c.scope) << c.code << " " << c.enhanced << " stage "
                                << static_cast<int>(c.stage);
    EXPECT_EQ(v.subtype, c.subtype) << c.code;
  }
}

TEST(Trouble, FailuresWithoutReplyAreRetried) {
  EXPECT_EQ(classify_failure(Stage::kConnect).scope, Scope::kDestinationSite);
  EXPECT_EQ(classify_failure(Stage::kDataEnd).outcome, Outcome::kDeferred);
  EXPECT_EQ(classify_reply(Stage::kRcpt, Reply(999, "", "junk")).outcome, Outcome::kDeferred);
}

}  // namespace
}  // namespace txmail::smtp
