// Property test of the vectorized body canonicalization (issue perf-1): on well over a million
// random and adversarial bodies, every scanner this CPU runs (AVX2 and the portable one) gives
// the canonical body and the body hash of the byte-at-a-time reference (canon_reference.h),
// for simple and relaxed. The reference decides every edge case: lone CR and LF, empty bodies,
// bodies of only white space or only CRLFs.
//
// The vector code reads blocks of 8, 32 and 64 bytes counted from the last edit, so the bodies
// put runs of white space and CR/LF pairs across those edges on purpose. The seed is fixed and
// every failure names it with the case. TXMAIL_PROPERTY_SCALE multiplies the number of random
// bodies (the sanitizer builds run a quarter by default).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/body_canon.h"
#include "dkim/canon_reference.h"

namespace txmail::dkim {
namespace {

constexpr std::uint64_t kSeed = 0x6463616e6f6e3031ULL;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kDefaultScale = 0.25;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr double kDefaultScale = 0.25;
#else
constexpr double kDefaultScale = 1.0;
#endif
#else
constexpr double kDefaultScale = 1.0;
#endif

double scale() {
  if (const char* s = std::getenv("TXMAIL_PROPERTY_SCALE"); s != nullptr) {
    const double v = std::strtod(s, nullptr);
    if (v > 0) {
      return v;
    }
  }
  return kDefaultScale;
}

std::size_t scaled(std::size_t n) {
  return std::max<std::size_t>(1000, static_cast<std::size_t>(static_cast<double>(n) * scale()));
}

// The body with CR, LF, HTAB and other controls spelled out, cut after `limit` bytes.
std::string printable(std::string_view s, std::size_t limit = 240) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      static constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > limit) {
    out += "... (" + std::to_string(s.size()) + " bytes)";
  }
  return out;
}

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) {
    out.append(part);
  }
  return out;
}

// The first position where two canonical forms differ, for the failure message.
std::size_t first_difference(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) {
    ++i;
  }
  return i;
}

// Holds every scanner to the reference, body after body; stops reporting after a few failures
// (one bug tends to fail thousands of bodies).
class Checker {
 public:
  explicit Checker(std::string_view suite) : suite_(suite) {
    for (auto s : {detail::Scanner::kPortable, detail::Scanner::kAvx2}) {
      if (detail::scanner_supported(s)) {
        scanners_.push_back(s);
      }
    }
  }

  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;
  Checker(Checker&&) = delete;
  Checker& operator=(Checker&&) = delete;

  ~Checker() {
    std::printf("[ property ] %s: %zu bodies, %zu scanner(s), seed %#llx\n", suite_.c_str(), cases_,
                scanners_.size(), static_cast<unsigned long long>(kSeed));
  }

  void check(std::string_view body) {
    ++cases_;
    if (failures_ >= 5) {
      return;
    }
    for (Canon canon : {Canon::kSimple, Canon::kRelaxed}) {
      const std::string expected = detail::canonicalize_body_reference(canon, body);
      const Digest expected_hash = detail::body_hash_reference(canon, body);
      for (auto scanner : scanners_) {
        const std::string got = detail::canonicalize_body_with(canon, body, scanner);
        const bool hash_ok = detail::body_hash_with(canon, body, scanner) == expected_hash;
        if (got != expected || !hash_ok) {
          report(canon, scanner, body, expected, got, hash_ok);
        }
      }
    }
  }

  std::size_t cases() const { return cases_; }

 private:
  void report(Canon canon, detail::Scanner scanner, std::string_view body,
              std::string_view expected, std::string_view got, bool hash_ok) {
    ++failures_;
    const std::size_t at = first_difference(expected, got);
    const std::size_t from = at > 40 ? at - 40 : 0;
    ADD_FAILURE() << suite_ << " case " << cases_ - 1 << " (seed 0x" << std::hex << kSeed
                  << std::dec << "), " << canon_name(canon) << ", "
                  << (scanner == detail::Scanner::kAvx2 ? "avx2" : "portable") << " scanner"
                  << (got == expected ? ": canonical forms agree, hashes differ" : "")
                  << "\n  body:      " << printable(body) << "\n  expected:  ..."
                  << printable(expected.substr(from), 120) << "\n  got:       ..."
                  << printable(got.substr(std::min(from, got.size())), 120)
                  << "\n  differ at: " << at << (hash_ok ? "" : " (body hash differs)");
  }

  std::string suite_;
  std::vector<detail::Scanner> scanners_;
  std::size_t cases_ = 0;
  std::size_t failures_ = 0;
};

// Random bytes, heavy in what canonicalization looks at; "other" has controls, 8-bit bytes and
// VT/FF (white space to some, not to RFC 6376).
class Bytes {
 public:
  explicit Bytes(std::uint64_t seed) : rng_(seed) {}

  char next() {
    static constexpr std::string_view kHeavy = "    \t\t\r\r\r\n\n\naaaa";
    // Spelled with its length: it holds a NUL byte.
    static constexpr std::string_view kOther("bZ.-\x0b\x0c\x00\x7f\x80\xff", 10);
    if (below(8) == 0) {
      return kOther[below(kOther.size())];
    }
    return kHeavy[below(kHeavy.size())];
  }

  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  std::string bytes(std::size_t n) {
    std::string s;
    s.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      s += next();
    }
    return s;
  }

  // Pieces of mail structure: lines, runs of white space, CRLF runs, lone CR and LF.
  std::string tokens(std::size_t size) {
    static constexpr std::array<std::string_view, 14> kTokens = {
        "\r\n", "\r\n\r\n", " ",  "  ",   "\t",    " \t ",   "a",
        "word", "\r",       "\n", "\n\r", " \r\n", "\t\r\n", "\r\r\n"};
    std::string s;
    while (s.size() < size) {
      switch (below(8)) {
        case 0:
          s.append(1 + below(90), below(3) == 0 ? '\t' : ' ');
          break;
        case 1:
          for (std::size_t i = 1 + below(40); i > 0; --i) {
            s += "\r\n";
          }
          break;
        case 2:
          s.append(1 + below(120), 'x');
          break;
        default:
          s += kTokens[below(kTokens.size())];
      }
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// Every string of length 0..max over SP, HTAB, CR, LF and 'a', alone (the byte-at-a-time tail of
// the scanners) and inside longer bodies where it straddles the 32- and 64-byte vector edges.
TEST(CanonProperty, ExhaustiveShortBodies) {
  Checker checker("ExhaustiveShortBodies");
  static constexpr std::string_view kAlphabet = " \t\r\na";
  const std::size_t max_length = scale() >= 1 ? 8 : 7;
  std::string s;
  std::vector<std::size_t> digits;
  std::size_t n = 0;
  for (std::size_t length = 0; length <= max_length; ++length) {
    digits.assign(length, 0);
    while (true) {
      s.clear();
      for (auto d : digits) {
        s += kAlphabet[d];
      }
      checker.check(s);
      // One framing per string, in turn: before the 32-byte edge with text after it, before
      // the 64-byte edge at the end of the body, after a CRLF right before the 32-byte edge.
      switch (n++ % 3) {
        case 0:
          checker.check(std::string(27 + n % 6, 'b') + s + std::string(72, 'c'));
          break;
        case 1:
          checker.check(std::string(58 + n % 8, 'b') + s);
          break;
        default:
          checker.check(std::string(28 + n % 3, 'b') + "\r\n" + s + "d\r\n" + std::string(70, 'e'));
      }
      std::size_t i = 0;
      for (; i < length && ++digits[i] == kAlphabet.size(); ++i) {
        digits[i] = 0;
      }
      if (i == length) {
        break;
      }
    }
  }
  EXPECT_GE(checker.cases(), max_length == 8 ? 976562U : 195312U);
}

TEST(CanonProperty, RandomShortBodies) {
  Checker checker("RandomShortBodies");
  Bytes rnd(kSeed);
  const std::size_t count = scaled(350000);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t length = rnd.below(301);
    checker.check(i % 2 == 0 ? rnd.bytes(length) : rnd.tokens(length));
  }
}

// Text mail of about 100 KiB, with the damage canonicalization repairs sprinkled in, and the
// same size of random bytes and of tokens: these also cross the size at which body spans go
// to SHA-256 directly.
TEST(CanonProperty, LargeBodies) {
  Checker checker("LargeBodies");
  Bytes rnd(kSeed + 1);
  static constexpr std::array<std::string_view, 9> kDamage = {
      " ", "  ", "\t", " \t", "\r\n", "\r\n\r\n", "\r", "\n", " \r\n \r\n"};
  const std::size_t count = std::max<std::size_t>(24, static_cast<std::size_t>(60 * scale()));
  for (std::size_t i = 0; i < count; ++i) {
    std::string body;
    const std::size_t size = 90000 + rnd.below(20000);
    switch (i % 3) {
      case 0:
        while (body.size() < size) {
          body.append(1 + rnd.below(75), 'w');
          body += rnd.below(6) == 0 ? kDamage[rnd.below(kDamage.size())] : " ";
          if (rnd.below(10) == 0) {
            body += "\r\n";
          }
        }
        break;
      case 1:
        body = rnd.bytes(size);
        break;
      default:
        body = rnd.tokens(size);
    }
    // The ends matter most: keep the body as it is, or end it in CRLF, blank lines or white space.
    static constexpr std::array<std::string_view, 5> kEnds = {"", "\r\n", "\r\n\r\n\r\n", " \t ",
                                                              "\r\n \r\n\t"};
    checker.check(body + std::string(kEnds[i % kEnds.size()]));
  }
}

// Runs of white space of every length up to 130 after every prefix length up to 130 (so across
// every vector edge), each followed by what decides its fate: text, CRLF, a lone CR or LF, the
// end of the body, more empty lines.
TEST(CanonProperty, WhiteSpaceAcrossBlockEdges) {
  Checker checker("WhiteSpaceAcrossBlockEdges");
  static constexpr std::array<std::string_view, 9> kAfter = {
      "", "b", "\r\n", "\r\nb", "\r", "\rb", "\n", "\r\n\r\n", "\r\n \r\nb"};
  static constexpr std::array<std::string_view, 3> kPrefixText = {"a", "\r\n", " a"};
  for (std::size_t prefix = 0; prefix <= 130; ++prefix) {
    for (std::size_t run = 1; run <= 130; run += (run < 70 ? 1 : 7)) {
      for (std::size_t kind = 0; kind < 3; ++kind) {
        std::string body;
        for (std::size_t i = 0; body.size() < prefix; ++i) {
          body += kPrefixText[(prefix + i) % kPrefixText.size()];
        }
        body.resize(prefix);
        for (std::size_t i = 0; i < run; ++i) {
          body += kind == 0 ? ' ' : (kind == 1 ? '\t' : " \t"[(i + prefix) % 2]);
        }
        checker.check(body + std::string(kAfter[(prefix + run + kind) % kAfter.size()]));
      }
    }
  }
}

// CR and LF of a CRLF on both sides of every edge, empty lines after text at every offset, and
// lone CR and LF next to CRLF.
TEST(CanonProperty, LineEndsAcrossBlockEdges) {
  Checker checker("LineEndsAcrossBlockEdges");
  static constexpr std::array<std::string_view, 10> kEnds = {
      "\r\n",   "\r\n\r\n", "\r\n\r\n\r\n", "\r",   "\n",
      "\r\r\n", "\n\r\n",   "\r\n\n\r\n",   "\n\r", "\r\n \r\n\r\n"};
  static constexpr std::array<std::string_view, 5> kAfter = {"", "z", " z", "\r\n", "\tz\r\n"};
  for (std::size_t prefix = 0; prefix <= 200; ++prefix) {
    for (auto end : kEnds) {
      for (auto after : kAfter) {
        const std::string line(prefix, 'q');
        checker.check(cat({line, end, after}));
        checker.check(cat({line, end, line, after}));
      }
    }
  }
}

// Bodies with nothing to keep, or nearly: empty, only CRLFs, only white space, only CR or LF,
// white-space lines; short and about 100 KiB.
TEST(CanonProperty, DegenerateBodies) {
  Checker checker("DegenerateBodies");
  checker.check("");
  static constexpr std::array<std::string_view, 12> kUnits = {
      "\r\n", " ",     "\t",     " \t",        "\r",     "\n",
      "\n\r", " \r\n", "\t\r\n", "  \r\n\r\n", "\r\r\n", "\n\n\r\n"};
  for (auto unit : kUnits) {
    for (std::size_t n = 1; n <= 300; ++n) {
      std::string body;
      for (std::size_t i = 0; i < n; ++i) {
        body += unit;
      }
      checker.check(body);
      checker.check("x" + body);
      checker.check(body + "x");
      checker.check(cat({body, "x", body}));
    }
    std::string big;
    while (big.size() < 102400) {
      big += unit;
    }
    checker.check(big);
    checker.check("x" + big);
    checker.check(cat({big, "x", big}));
  }
}

}  // namespace
}  // namespace txmail::dkim
