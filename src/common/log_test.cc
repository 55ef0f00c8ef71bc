#include "common/log.h"

#include <gtest/gtest.h>

namespace txmail {
namespace {

TEST(Printable, NeutralizesWhatCouldForgeALogLine) {
  EXPECT_EQ(printable("alice"), "alice");
  EXPECT_EQ(printable("a\r\nlevel=info fake"), "a??level=info?fake");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf??");
  EXPECT_EQ(printable(std::string(500, 'x')).size(), 200U);
}

}  // namespace
}  // namespace txmail
