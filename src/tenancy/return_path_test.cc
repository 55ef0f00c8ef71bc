// The return path's token (issue bounce-1, item 1): it names the mail and cannot be forged.
#include "tenancy/return_path.h"

#include <gtest/gtest.h>

#include <string>

#include "common/ids.h"
#include "tenancy/master_key.h"

namespace txmail::tenancy {
namespace {

const std::string kKey(32, 'k');

TEST(ReturnPath, NamesTheMailAndNothingElse) {
  const ReturnPath rp(kKey);
  const std::string id = mail_id(new_job_id(), 3, 0x1a2b);
  const auto local = rp.local_part(id);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->size(), 2 + ReturnPath::kTokenChars);
  EXPECT_LE(local->size(), 64U);  // RFC 5321's limit of a local part
  EXPECT_TRUE(local->starts_with("b-"));
  EXPECT_EQ(local->find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 2), std::string::npos);
  EXPECT_EQ(rp.mail_id(*local), id);
  // Servers may change the case of a local part.
  std::string upper = *local;
  for (auto& c : upper) {
    c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  EXPECT_EQ(rp.mail_id(upper), id);
  // Two mails, two tokens.
  EXPECT_NE(rp.local_part(mail_id(id.substr(0, 36), 3, 0x1a2c)), local);
}

TEST(ReturnPath, ForgedOrAlteredNamesNothing) {
  const ReturnPath rp(kKey);
  const std::string id = mail_id(new_job_id(), 0, 7);
  const std::string local = *rp.local_part(id);
  // Every one-character change of the token.
  for (std::size_t i = 2; i < local.size(); ++i) {
    for (const char c : std::string("a2z7")) {
      if (local[i] == c) {
        continue;
      }
      std::string altered = local;
      altered[i] = c;
      EXPECT_FALSE(rp.mail_id(altered)) << i << " " << c;
    }
  }
  // The last character carries 3 padding bits: no second spelling of the same token.
  for (const char c : std::string("abcdefghijklmnopqrstuvwxyz234567")) {
    std::string other = local;
    other.back() = c;
    EXPECT_EQ(rp.mail_id(other).has_value(), c == local.back()) << c;
  }
  // Another key (another installation) cannot make or read ours.
  EXPECT_FALSE(ReturnPath(std::string(32, 'x')).mail_id(local));
  EXPECT_NE(ReturnPath(std::string(32, 'x')).local_part(id), local);
  // Not a token at all.
  for (const std::string& bad :
       {std::string(), std::string("b-"), local.substr(0, local.size() - 1), local + "a",
        "c" + local.substr(1), "b_" + local.substr(2), local.substr(0, 10) + "!" + local.substr(11),
        std::string("postmaster")}) {
    EXPECT_FALSE(rp.mail_id(bad)) << bad;
  }
}

TEST(ReturnPath, OnlyTxmailMailIds) {
  const ReturnPath rp(kKey);
  const std::string job = new_job_id();
  for (const std::string& bad : {std::string(), job, job + "#00000000", job + "#0000000#00000000",
                                 job + "#0000000G#00000000", job + "#0000000A#00000000",
                                 "x" + job.substr(1) + "#00000000#00000000"}) {
    EXPECT_FALSE(rp.local_part(bad)) << bad;
  }
  EXPECT_TRUE(rp.local_part(job + "#ffffffff#00000000"));
}

// One-click unsubscribe tokens (issue bounce-1, item 5): "u-", their own key; a return path is
// never an unsubscribe token and the other way round.
TEST(ReturnPath, UnsubscribeTokensAreTheirOwn) {
  auto master = MasterKey::parse(std::string(64, 'a'));
  ASSERT_TRUE(master) << master.error().detail;
  const ReturnPath bounces = ReturnPath::from(*master);
  const ReturnPath unsubscribes = ReturnPath::unsubscribe_from(*master);
  const std::string id = mail_id(new_job_id(), 1, 2);
  const std::string u = *unsubscribes.local_part(id);
  const std::string b = *bounces.local_part(id);
  EXPECT_TRUE(u.starts_with("u-"));
  EXPECT_EQ(u.size(), 2 + ReturnPath::kTokenChars);
  EXPECT_EQ(unsubscribes.mail_id(u), id);
  EXPECT_EQ(unsubscribes.mail_id("U" + u.substr(1)), id);
  EXPECT_NE(u.substr(2), b.substr(2));  // another key, another MAC
  EXPECT_FALSE(bounces.mail_id(u));
  EXPECT_FALSE(unsubscribes.mail_id(b));
  // The return path's token under the other prefix, and the other way round.
  EXPECT_FALSE(unsubscribes.mail_id("u-" + b.substr(2)));
  EXPECT_FALSE(bounces.mail_id("b-" + u.substr(2)));
  std::string altered = u;
  altered[10] = altered[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(unsubscribes.mail_id(altered));
}

}  // namespace
}  // namespace txmail::tenancy
