#include "common/ids.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>

namespace txmail {

void random_bytes(void* out, std::size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1) {
    std::abort();
  }
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string new_job_id() {
  JobKey b{};
  random_bytes(b.data(), b.size());
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  }
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // variant 10
  return job_id_of(b);
}

std::string mail_id(const std::string& job_id, std::uint32_t block, std::uint32_t index) {
  return fmt::format("{}#{:08x}#{:08x}", job_id, block, index);
}

bool is_job_id(std::string_view s) {
  if (s.size() != kJobIdSize) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::optional<JobKey> job_key(std::string_view job_id) {
  if (!is_job_id(job_id)) {
    return std::nullopt;
  }
  auto nibble = [](char c) {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  JobKey key{};
  std::size_t n = 0;
  for (char i : job_id) {
    if (i == '-') {
      continue;
    }
    key[n / 2] = static_cast<std::uint8_t>(key[n / 2] << 4 | nibble(i));
    ++n;
  }
  return key;
}

std::string job_id_of(const JobKey& key) {
  const std::string h =
      hex(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  std::string out;
  out.reserve(36);
  out.append(h, 0, 8).append(1, '-').append(h, 8, 4).append(1, '-').append(h, 12, 4);
  out.append(1, '-').append(h, 16, 4).append(1, '-').append(h, 20, 12);
  return out;
}

std::size_t JobKeyHash::operator()(const JobKey& k) const noexcept {
  // The last 8 bytes of a UUIDv7 are random (bar the variant bits): a good hash already.
  std::uint64_t v = 0;
  for (std::size_t i = 8; i < 16; ++i) {
    v = v << 8 | k[i];
  }
  return static_cast<std::size_t>(v);
}

std::string block_record_id(std::string_view id, std::uint32_t block) {
  std::string out(id);
  if (block == 0 || out.size() < 8) {
    return out;
  }
  std::uint32_t tail = 0;
  for (std::size_t i = out.size() - 8; i < out.size(); ++i) {
    const char c = out[i];
    tail = tail * 16 + static_cast<std::uint32_t>(std::max(hex_value(c), 0));
  }
  tail ^= block;
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 8; ++i) {
    out[out.size() - 1 - i] = kHex[(tail >> (4 * i)) & 15];
  }
  return out;
}

std::string mail_id_of(const std::string& record_id, std::uint32_t block, std::uint32_t index) {
  return mail_id(block_record_id(record_id, block), block, index);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace txmail
