#include "api/console_sessions.h"

#include <openssl/sha.h>

#include <algorithm>

#include "common/ids.h"

namespace txmail::api {

namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  random_bytes(raw.data(), raw.size());
  return hex(raw);
}

std::string digest(std::string_view id) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return hex(out);
}

}  // namespace

std::pair<std::string, ConsoleSession> ConsoleSessions::create(std::string authorization,
                                                               std::string account) {
  std::string id = random_hex(32);
  ConsoleSession session{.authorization = std::move(authorization),
                         .csrf = random_hex(32),
                         .account = std::move(account)};
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  // One key's logins push out that key's oldest session, never another key's.
  std::size_t same = 0;
  auto oldest_same = by_digest_.end();
  for (auto it = by_digest_.begin(); it != by_digest_.end(); ++it) {
    if (it->second.session.authorization == session.authorization) {
      ++same;
      if (oldest_same == by_digest_.end() || it->second.created < oldest_same->second.created) {
        oldest_same = it;
      }
    }
  }
  if (same >= kMaxPerCredential) {
    by_digest_.erase(oldest_same);
  }
  if (by_digest_.size() >= kMaxSessions) {
    evict(now);
  }
  if (by_digest_.size() >= kMaxSessions) {
    auto oldest = std::min_element(
        by_digest_.begin(), by_digest_.end(),
        [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
    by_digest_.erase(oldest);
  }
  by_digest_[digest(id)] = Entry{.session = session, .created = now, .used = now};
  return {std::move(id), std::move(session)};
}

std::optional<ConsoleSession> ConsoleSessions::find(std::string_view id) {
  if (id.size() != 64) {
    return std::nullopt;
  }
  const std::string key = digest(id);
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  auto it = by_digest_.find(key);
  if (it == by_digest_.end()) {
    return std::nullopt;
  }
  if (now - it->second.used >= kIdle || now - it->second.created >= kMaxAge) {
    by_digest_.erase(it);
    return std::nullopt;
  }
  it->second.used = now;
  return it->second.session;
}

void ConsoleSessions::erase(std::string_view id) {
  const std::string key = digest(id);
  std::lock_guard lock(mutex_);
  by_digest_.erase(key);
}

std::size_t ConsoleSessions::size() const {
  std::lock_guard lock(mutex_);
  return by_digest_.size();
}

void ConsoleSessions::evict(Clock::time_point now) {
  std::erase_if(by_digest_, [now](const auto& e) {
    return now - e.second.used >= kIdle || now - e.second.created >= kMaxAge;
  });
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) {
      pair.remove_prefix(1);
    }
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) {
      pair.remove_suffix(1);
    }
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      std::string_view value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return std::nullopt;
}

}  // namespace txmail::api
