// DKIM signing throughput on one core (issue core-3): dkim::sign() over a whole message (body
// hash, header canonicalization, signature) for RSA-2048 and Ed25519, at 1 KiB, 10 KiB and
// 100 KiB. Prints "algorithm size signatures_per_second". bench/dkim.sh puts it next to
// `openssl speed`.
#include <fmt/format.h>

#include <chrono>
#include <string>

#include "dkim/signature.h"

namespace {

std::string message_of(std::size_t size) {
  std::string m =
      "From: Shop <orders@shop.example>\r\nTo: customer@example.net\r\n"
      "Subject: Your invoice 2026-11-27\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
      "Message-ID: <0190e6a4-7b1c-7d2e-8f3a-1234567890ab@shop.example>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  std::size_t n = 0;
  while (m.size() < size) {
    m += fmt::format("Line {} of the invoice text, with  some   spacing to canonicalize.\r\n", n++);
  }
  return m;
}

}  // namespace

int main() {
  using Clock = std::chrono::steady_clock;
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
