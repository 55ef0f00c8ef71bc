#include "tenancy/authenticator.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/ids.h"
#include "tenancy/password_hash.h"

namespace txmail::tenancy {

namespace {
constexpr std::size_t kMaxCacheEntries = 100'000;
}

Authenticator::Authenticator(const AccountDirectory& directory, Clock::duration ttl)
    : directory_(directory), ttl_(ttl), secret_(32, '\0') {
  random_bytes(secret_.data(), secret_.size());
  dummy_hash_ = hash_password("not a real password");
}

std::string Authenticator::cache_key(const std::string& user, const std::string& password) const {
  std::string input = std::to_string(user.size()) + ":" + user + password;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  OPENSSL_cleanse(input.data(), input.size());
  return {reinterpret_cast<const char*>(mac), len};
}

std::optional<std::string> Authenticator::cached(const std::string& user,
                                                 const std::string& password) {
  const std::string key = cache_key(user, password);
  std::lock_guard lock(mutex_);
  const auto it = cache_.find(key);
  if (it == cache_.end()) {
    return std::nullopt;
  }
  if (it->second.expires < Clock::now() || it->second.generation != directory_.generation()) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.account;
}

Result<std::string> Authenticator::verify(const std::string& user, const std::string& password) {
  const std::uint64_t generation = directory_.generation();
  const auto account = directory_.find(user);
  if (!account) {
    (void)verify_password(password, dummy_hash_);
    return make_error(ErrorCode::kAuthFailed, "unknown account");
  }
  if (!verify_password(password, account->password_hash)) {
    return make_error(ErrorCode::kAuthFailed, "wrong password");
  }
  if (account->disabled) {
    return make_error(ErrorCode::kPermission, "account disabled");
  }
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxCacheEntries) {
    cache_.clear();
  }
  cache_[cache_key(user, password)] = Entry{account->name, Clock::now() + ttl_, generation};
  return account->name;
}

}  // namespace txmail::tenancy
