#include "smtp/proto/message_reader.h"

#include <gtest/gtest.h>

namespace txmail::smtp {
namespace {

struct DotCase {
  const char* name;
  std::string wire;
  bool done;
  std::string message;  // expected when done and not refused
  bool refused;
  std::size_t left;  // bytes left unconsumed after the end
};

TEST(DotReader, Cases) {
  const DotCase cases[] = {
      {"simple", "Subject: x\r\n\r\nhello\r\n.\r\n", true, "Subject: x\r\n\r\nhello\r\n", false, 0},
      {"empty message", ".\r\n", true, "", false, 0},
      {"stuffed dot", "a\r\n..b\r\n.\r\n", true, "a\r\n.b\r\n", false, 0},
      {"stuffed lone dot", "..\r\n.\r\n", true, ".\r\n", false, 0},
      {"dot mid line", "a.b\r\n. x\r\n.\r\n", true, "a.b\r\n x\r\n", false, 0},
      {"pipelined after end", "x\r\n.\r\nQUIT\r\n", true, "x\r\n", false, 6},
      {"not ended", "x\r\n.", false, "", false, 0},
      {"bare LF dot LF is content", "a\n.\nb\r\n.\r\n", true, "", true, 0},
      {"bare CR dot CR is content", "a\r.\rb\r\n.\r\n", true, "", true, 0},
      {"LF dot CRLF is content", "a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", true, "", true, 0},
      {"CRLF dot LF is content", "a\r\n.\nRCPT TO:<x@y>\r\n.\r\n", true, "", true, 0},
      {"CRLF dot CR x", "a\r\n.\rb\r\n.\r\n", true, "", true, 0},
      {"trailing bare LF", "a\n\r\n.\r\n", true, "", true, 0},
  };
  for (const auto& c : cases) {
    std::string out;
    DotReader reader(out, 1 << 20);
    const std::size_t used = reader.feed(c.wire);
    EXPECT_EQ(reader.done(), c.done) << c.name;
    if (!c.done) {
      continue;
    }
    EXPECT_EQ(c.wire.size() - used, c.left) << c.name;
    EXPECT_EQ(reader.problems().refused(), c.refused) << c.name;
    if (!c.refused) {
      EXPECT_EQ(out, c.message) << c.name;
    }
  }
}

TEST(DotReader, SplitAtEveryOffsetGivesTheSameResult) {
  const std::string wire = "Subject: s\r\n\r\n..a\r\nb.\r\n.c\r\n\r\n.\r\nNOOP\r\n";
  std::string whole;
  DotReader ref(whole, 1 << 20);
  const std::size_t ref_used = ref.feed(wire);
  ASSERT_TRUE(ref.done());
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    std::string out;
    DotReader reader(out, 1 << 20);
    std::size_t used = reader.feed(std::string_view(wire).substr(0, split));
    if (!reader.done()) {
      used += reader.feed(std::string_view(wire).substr(split));
    }
    EXPECT_TRUE(reader.done()) << split;
    EXPECT_EQ(used, ref_used) << split;
    EXPECT_EQ(out, whole) << split;
  }
}

TEST(DotReader, OversizeIsCountedNotKept) {
  std::string out;
  DotReader reader(out, 10);
  reader.feed(std::string(100, 'a') + "\r\n.\r\n");
  ASSERT_TRUE(reader.done());
  EXPECT_TRUE(reader.problems().oversize);
  EXPECT_EQ(out.size(), 10U);
  EXPECT_EQ(reader.size(), 102U);
}

TEST(DotReader, LineLimit) {
  std::string out;
  DotReader ok(out, 1 << 20);
  ok.feed(std::string(998, 'a') + "\r\n.\r\n");
  EXPECT_FALSE(ok.problems().long_line);
  std::string out2;
  DotReader bad(out2, 1 << 20);
  bad.feed(std::string(999, 'a') + "\r\n.\r\n");
  EXPECT_TRUE(bad.problems().long_line);
}

TEST(DotReader, EightBitIsNoted) {
  std::string out;
  DotReader reader(out, 1 << 20);
  reader.feed("caf\xc3\xa9\r\n.\r\n");
  EXPECT_TRUE(reader.problems().eight_bit);
  EXPECT_FALSE(reader.problems().refused());
}

TEST(ContentCheck, EightBitFoundAtEveryPositionOfALongRun) {
  // The check reads eight bytes at a time: a high byte anywhere, including the tail that is
  // not a whole word, must be seen, and pure ASCII must not be flagged.
  const std::string ascii(100, 'a');
  std::string out;
  ContentCheck clean(out, 1 << 20);
  clean.put(ascii);
  EXPECT_FALSE(clean.problems().eight_bit);
  for (std::size_t at = 0; at < ascii.size(); ++at) {
    std::string bytes = ascii;
    bytes[at] = static_cast<char>(0x80);
    ContentCheck check(out, 1 << 20);
    check.put(bytes);
    EXPECT_TRUE(check.problems().eight_bit) << "high byte at " << at;
  }
}

TEST(ChunkReader, Framing) {
  std::string out;
  ChunkReader reader(out, 1 << 20);
  reader.begin_chunk(5);
  EXPECT_EQ(reader.feed("abc"), 3U);
  EXPECT_FALSE(reader.chunk_done());
  EXPECT_EQ(reader.feed("de\r\nBDAT"), 2U);  // the rest is the next command
  EXPECT_TRUE(reader.chunk_done());
  reader.begin_chunk(4);
  EXPECT_EQ(reader.feed("\r\n.\r\n"), 4U);  // no dot handling in BDAT
  reader.begin_chunk(0);
  EXPECT_TRUE(reader.chunk_done());
  reader.finish();
  EXPECT_EQ(out, "abcde\r\n.\r");
  EXPECT_TRUE(reader.problems().bare_cr);  // the message ends in a lone CR
}

TEST(ChunkReader, CrLfAcrossChunksIsFine) {
  std::string out;
  ChunkReader reader(out, 1 << 20);
  reader.begin_chunk(3);
  reader.feed("ab\r");
  reader.begin_chunk(3);
  reader.feed("\ncd");
  reader.begin_chunk(2);
  reader.feed("\r\n");
  reader.finish();
  EXPECT_FALSE(reader.problems().refused());
  EXPECT_EQ(out, "ab\r\ncd\r\n");
}

TEST(ChunkReader, BareLfRefused) {
  std::string out;
  ChunkReader reader(out, 1 << 20);
  reader.begin_chunk(6);
  reader.feed("a\nb\r\n\n");
  reader.finish();
  EXPECT_TRUE(reader.problems().bare_lf);
}

}  // namespace
}  // namespace txmail::smtp
