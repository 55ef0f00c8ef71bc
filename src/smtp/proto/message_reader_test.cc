#include "smtp/proto/message_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace txmail::smtp {
namespace {

struct DotCase {  // NOLINT(clang-analyzer-optin.performance.Padding): a table
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
    std::size_t used = reader.feed(std::string_view{wire}.substr(0, split));
    if (!reader.done()) {
      used += reader.feed(std::string_view{wire}.substr(split));
    }
    EXPECT_TRUE(reader.done()) << split;
    EXPECT_EQ(used, ref_used) << split;
    EXPECT_EQ(out, whole) << split;
  }
}

// The DATA state machine a byte at a time, as RFC 5321 section 4.5.2 reads: what DotReader,
// which works in runs, must agree with on every input and every split of it.
struct ByteDotReader {
  enum { kLineStart, kMid, kCr, kDot, kDotCr, kDone } state = kLineStart;

  std::string content;
  std::size_t used = 0;

  void feed(std::string_view wire) {
    for (char c : wire) {
      if (state == kDone) {
        return;
      }
      ++used;
      switch (state) {
        case kLineStart:
        case kDot:
          if (state == kLineStart && c == '.') {
            state = kDot;
          } else if (state == kDot && c == '\r') {
            state = kDotCr;
          } else {
            content += c;
            state = c == '\r' ? kCr : kMid;
          }
          break;
        case kMid:
          content += c;
          state = c == '\r' ? kCr : kMid;
          break;
        case kCr:
          content += c;
          state = c == '\n' ? kLineStart : c == '\r' ? kCr : kMid;
          break;
        case kDotCr:
          if (c == '\n') {
            state = kDone;
          } else {
            content += '\r';
            content += c;
            state = c == '\r' ? kCr : kMid;
          }
          break;
        case kDone:
          break;
      }
    }
  }
};

TEST(DotReader, AgreesWithTheByteAtATimeMachineOnRandomInput) {
  std::mt19937 rng(20261128);
  const char alphabet[] = {'a', 'b', '.', '.', '\r', '\n', '\r', '\n'};
  for (int n = 0; n < 20000; ++n) {
    std::string wire;
    const int len = static_cast<int>(rng() % 40);
    for (int j = 0; j < len; ++j) {
      wire += alphabet[rng() % sizeof alphabet];
    }
    if (rng() % 2 == 0) {
      wire += "\r\n.\r\n";
    }
    wire += "tail";
    ByteDotReader ref;
    ref.feed(wire);
    std::string ref_out;
    ContentCheck ref_check(ref_out, 1 << 20);
    ref_check.put(ref.content);
    if (ref.state == ByteDotReader::kDone) {
      ref_check.finish();
    }
    // Whole, and cut in up to three pieces at random places.
    for (int pieces = 1; pieces <= 3; ++pieces) {
      std::vector<std::size_t> cuts{0, wire.size()};
      for (int c = 1; c < pieces; ++c) {
        cuts.push_back(rng() % (wire.size() + 1));
      }
      std::sort(cuts.begin(), cuts.end());
      std::string out;
      DotReader reader(out, 1 << 20);
      std::size_t used = 0;
      for (std::size_t c = 0; c + 1 < cuts.size() && !reader.done(); ++c) {
        used += reader.feed(std::string_view{wire}.substr(cuts[c], cuts[c + 1] - cuts[c]));
      }
      ASSERT_EQ(reader.done(), ref.state == ByteDotReader::kDone) << testing::PrintToString(wire);
      ASSERT_EQ(out, ref.content) << testing::PrintToString(wire) << " pieces " << pieces;
      if (reader.done()) {
        ASSERT_EQ(used, ref.used) << testing::PrintToString(wire);
        ASSERT_EQ(reader.problems().bare_cr, ref_check.problems().bare_cr)
            << testing::PrintToString(wire);
        ASSERT_EQ(reader.problems().bare_lf, ref_check.problems().bare_lf)
            << testing::PrintToString(wire);
      }
    }
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
