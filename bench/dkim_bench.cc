// DKIM signing throughput on one core (issue core-3): dkim::sign() over a whole message (body
// hash, header canonicalization, signature) for RSA-2048 and Ed25519, at 1 KiB, 10 KiB and
// 100 KiB. Prints "algorithm size signatures_per_second". bench/dkim.sh puts it next to
// `openssl speed`.
//
// `dkim_bench body` times the body hash alone (issue perf-1): dkim::body_hash() and the
// reference canonicalizer it replaced over 100 KiB bodies, relaxed and simple, and prints
// "implementation canon shape size MB_per_second" (MB = 10^6 bytes, as `openssl speed` counts). Two
// shapes: "text" is typical text mail (lines of about 76 characters, some with trailing white
// space, a few double spaces, paragraphs); "spaced" has white-space runs on every line (the body of
// the signing benchmark), the canonicalizer's busier case.
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <string>
#include <string_view>

#include "dkim/canon.h"
#include "dkim/canon_reference.h"
#include "dkim/signature.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kHeaders =
    "From: Shop <orders@shop.example>\r\nTo: customer@example.net\r\n"
    "Subject: Your invoice 2026-11-27\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <0190e6a4-7b1c-7d2e-8f3a-1234567890ab@shop.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n";

std::string spaced_body(std::size_t size) {
  std::string b;
  std::size_t n = 0;
  while (b.size() < size) {
    b += fmt::format("Line {} of the invoice text, with  some   spacing to canonicalize.\r\n", n++);
  }
  return b;
}

std::string message_of(std::size_t size) {
  std::string m(kHeaders);
  m += spaced_body(size - std::min(size, m.size()));
  return m;
}

// Lines wrapped before 76 characters from a fixed word list; every fifth line ends in a space
// (as mail clients that wrap at a space leave it), every thirteenth has a double space after a
// full stop, every ninth line ends a paragraph (an empty line follows).
std::string text_body(std::size_t size) {
  static constexpr std::array<std::string_view, 16> kWords = {
      "Thank",    "you", "for",       "your",    "order.", "The", "invoice", "for",
      "November", "is",  "attached;", "payment", "is",     "due", "within",  "30 days."};
  std::string b;
  std::string line;
  std::size_t word = 0;
  std::size_t lines = 0;
  while (b.size() < size) {
    std::string_view w = kWords[word++ % kWords.size()];
    if (line.size() + 1 + w.size() > 75) {
      ++lines;
      if (lines % 5 == 0) {
        line += ' ';
      }
      b += line + "\r\n";
      if (lines % 9 == 0) {
        b += "\r\n";
      }
      line.clear();
    }
    if (!line.empty()) {
      line += lines % 13 == 0 && line.ends_with('.') ? "  " : " ";
    }
    line += w;
  }
  b.resize(size - 2);
  b += "\r\n";
  return b;
}

using BodyHash = txmail::dkim::Digest (*)(txmail::dkim::Canon, std::string_view);

double body_rate(BodyHash hash, txmail::dkim::Canon canon, const std::string& body) {
  std::size_t count = 0;
  std::uint8_t sink = 0;
  const auto start = Clock::now();
  auto elapsed = Clock::duration::zero();
  while (elapsed < std::chrono::seconds(2)) {
    for (int i = 0; i < 100; ++i) {
      sink ^= hash(canon, body)[0];
    }
    count += 100;
    elapsed = Clock::now() - start;
  }
  // Keeps the hashes observable, so that the loop is not optimized away.
  if (sink == 0xff && count == 0) {
    fmt::print(stderr, "unreachable\n");
  }
  return static_cast<double>(count * body.size()) / 1e6
         / std::chrono::duration<double>(elapsed).count();
}

// "txmail" is dkim::body_hash, what signing and verification use; "reference" is the
// byte-at-a-time canonicalizer it replaced (dkim/canon_reference.h), the "before" of issue
// perf-1 in the same run.
int bodies() {
  constexpr std::size_t kSize = 102400;
  const std::string text = text_body(kSize);
  const std::string spaced = spaced_body(kSize);
  const std::pair<const char*, BodyHash> impls[] = {
      {"txmail", txmail::dkim::body_hash},
      {"reference", txmail::dkim::detail::body_hash_reference}};
  for (const auto& [impl, hash] : impls) {
    for (auto canon : {txmail::dkim::Canon::kRelaxed, txmail::dkim::Canon::kSimple}) {
      for (const auto& [shape, body] : {std::pair{"text", &text}, std::pair{"spaced", &spaced}}) {
        fmt::print("{} {} {} {} {:.0f}\n", impl, txmail::dkim::canon_name(canon), shape,
                   body->size(), body_rate(hash, canon, *body));
      }
    }
  }
  return 0;
}

int signatures() {
  for (auto algorithm :
       {txmail::dkim::Algorithm::kRsaSha256, txmail::dkim::Algorithm::kEd25519Sha256}) {
    auto key = txmail::dkim::PrivateKey::generate(algorithm);
    if (!key) {
      fmt::print(stderr, "{}\n", key.error().detail);
      return 1;
    }
    const std::vector<txmail::dkim::SigningKey> keys = {{"shop.example", "txm1", *key}};
    for (std::size_t size : {1024U, 10240U, 102400U}) {
      const std::string message = message_of(size);
      std::size_t count = 0;
      const auto start = Clock::now();
      auto elapsed = Clock::duration::zero();
      while (elapsed < std::chrono::seconds(3)) {
        for (int i = 0; i < 50; ++i) {
          auto fields = txmail::dkim::sign(message, keys);
          if (!fields) {
            return 1;
          }
        }
        count += 50;
        elapsed = Clock::now() - start;
      }
      fmt::print("{} {} {:.0f}\n", txmail::dkim::algorithm_name(algorithm), size,
                 static_cast<double>(count) / std::chrono::duration<double>(elapsed).count());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "body") {
    return bodies();
  }
  return signatures();
}
