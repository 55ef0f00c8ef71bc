#include "tenancy/return_path.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "common/ids.h"
#include "tenancy/master_key.h"

namespace txmail::tenancy {

namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kPayloadBytes = 24;

std::string base32(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  }
  return out;
}

// nullopt for a character outside the alphabet (either case) or non-zero padding bits.
std::optional<std::string> unbase32(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char raw : text) {
    const char c = raw >= 'A' && raw <= 'Z' ? static_cast<char>(raw + 32) : raw;
    const auto v = kAlphabet.find(c);
    if (v == std::string_view::npos) {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  if ((buffer & ((1U << bits) - 1)) != 0) {
    return std::nullopt;  // one text, one token: no second spelling of the same bytes
  }
  return out;
}

std::optional<std::uint32_t> hex8(std::string_view s) {
  if (s.size() != 8) {
    return std::nullopt;
  }
  std::uint32_t v = 0;
  for (const char c : s) {
    const int d = hex_value(c);
    if (d < 0 || (c >= 'A' && c <= 'F')) {
      return std::nullopt;  // mail ids are written in lower case
    }
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  return v;
}

void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::uint32_t get32(std::string_view in) {
  std::uint32_t v = 0;
  for (const char c : in.substr(0, 4)) {
    v = (v << 8) | static_cast<unsigned char>(c);
  }
  return v;
}

}  // namespace

ReturnPath ReturnPath::from(const MasterKey& master) {
  return ReturnPath(master.derive("txmail return path v1"));
}

ReturnPath ReturnPath::unsubscribe_from(const MasterKey& master) {
  return ReturnPath(master.derive("txmail unsubscribe v1"), 'u');
}

std::string ReturnPath::mac(std::string_view payload) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), md.data(), &len);
  return {reinterpret_cast<const char*>(md.data()), kMacBytes};
}

std::optional<std::string> ReturnPath::local_part(std::string_view mail_id) const {
  // <job id 36>#<block 8>#<index 8>
  if (mail_id.size() != 54 || mail_id[36] != '#' || mail_id[45] != '#') {
    return std::nullopt;
  }
  const auto job = job_key(mail_id.substr(0, 36));
  const auto block = hex8(mail_id.substr(37, 8));
  const auto index = hex8(mail_id.substr(46, 8));
  if (!job || !block || !index) {
    return std::nullopt;
  }
  std::string payload(reinterpret_cast<const char*>(job->data()), job->size());
  put32(payload, *block);
  put32(payload, *index);
  return std::string{prefix_, '-'} + base32(payload + mac(payload));
}

std::optional<std::string> ReturnPath::mail_id(std::string_view local_part) const {
  const char upper = static_cast<char>(prefix_ - 'a' + 'A');
  if (local_part.size() != 2 + kTokenChars || (local_part[0] != prefix_ && local_part[0] != upper)
      || local_part[1] != '-') {
    return std::nullopt;
  }
  const auto bytes = unbase32(local_part.substr(2));
  if (!bytes || bytes->size() != kPayloadBytes + kMacBytes) {
    return std::nullopt;
  }
  const std::string_view all = *bytes;
  const std::string_view payload = all.substr(0, kPayloadBytes);
  const std::string expected = mac(payload);
  if (CRYPTO_memcmp(expected.data(), bytes->data() + kPayloadBytes, kMacBytes) != 0) {
    return std::nullopt;
  }
  JobKey job{};
  std::copy(payload.begin(), payload.begin() + 16, job.begin());
  return txmail::mail_id(job_id_of(job), get32(payload.substr(16)), get32(payload.substr(20)));
}

}  // namespace txmail::tenancy
