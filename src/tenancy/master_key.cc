#include "tenancy/master_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/base64.h"
#include "common/ids.h"

namespace txmail::tenancy {

namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;
constexpr std::string_view kVersion = "v1:";

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

Result<MasterKey> MasterKey::parse(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  MasterKey key;
  if (text.size() == 64) {
    bool ok = true;
    for (std::size_t i = 0; i < 32 && ok; ++i) {
      const int hi = hex_value(text[2 * i]);
      const int lo = hex_value(text[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      key.key_[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    if (ok) {
      return key;
    }
  }
  std::string raw;
  if (base64_decode(text, raw) && raw.size() == 32) {
    std::copy(raw.begin(), raw.end(), key.key_.begin());
    OPENSSL_cleanse(raw.data(), raw.size());
    return key;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "master key: expected 32 bytes as 64 hex digits or base64");
}

Result<MasterKey> MasterKey::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return make_error(ErrorCode::kIo, "master key: cannot read '" + path + "'");
  }
  std::stringstream text;
  text << in.rdbuf();
  auto key = parse(text.str());
  if (!key) {
    return make_error(ErrorCode::kInvalidArgument, key.error().detail + " in '" + path + "'");
  }
  return key;
}

Result<MasterKey> MasterKey::from_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "master key: environment variable " + name + " is not set");
  }
  return parse(value);
}

Result<MasterKey> MasterKey::load_or_create(const std::string& path) {
  if (::access(path.c_str(), F_OK) == 0) {
    return from_file(path);
  }
  unsigned char raw[32];
  random_bytes(raw, sizeof(raw));
  const std::string text = hex(std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
  OPENSSL_cleanse(raw, sizeof(raw));
  // O_EXCL: two processes starting at once do not both create (and one lose) a key.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return from_file(path);
    }
    return make_error(ErrorCode::kIo, "master key: cannot create '" + path + "'");
  }
  const std::string line = text + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())
                       && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    return make_error(ErrorCode::kIo, "master key: cannot write '" + path + "'");
  }
  return parse(text);
}

std::string MasterKey::seal(std::string_view plaintext, std::string_view context) const {
  unsigned char nonce[kNonce];
  random_bytes(nonce, sizeof(nonce));
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  std::copy(nonce, nonce + kNonce, out.begin());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  auto* cipher = reinterpret_cast<unsigned char*>(out.data() + kNonce);
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce);
  EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(context.data()),
                    static_cast<int>(context.size()));
  EVP_EncryptUpdate(ctx.get(), cipher, &n, reinterpret_cast<const unsigned char*>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx.get(), cipher + n, &n);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag,
                      out.data() + kNonce + plaintext.size());
  return std::string(kVersion) + base64_encode(out);
}

Result<std::string> MasterKey::open(std::string_view sealed, std::string_view context) const {
  std::string raw;
  if (!sealed.starts_with(kVersion) || !base64_decode(sealed.substr(kVersion.size()), raw)
      || raw.size() < kNonce + kTag) {
    return make_error(ErrorCode::kCorrupt, "sealed key: malformed");
  }
  const std::size_t length = raw.size() - kNonce - kTag;
  std::string plain(length, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), in);
  EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(context.data()),
                    static_cast<int>(context.size()));
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, in + kNonce,
                    static_cast<int>(length));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                      const_cast<unsigned char*>(in + kNonce + length));
  int tail = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &tail)
      != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return make_error(ErrorCode::kCorrupt,
                      "sealed key does not open with this master key (wrong key or tampered)");
  }
  return plain;
}

std::string MasterKey::derive(std::string_view context) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(context.data()), context.size(), md, &len);
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace txmail::tenancy
