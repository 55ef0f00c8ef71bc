// The web console's sessions (issue console-1): what lets a browser use the REST API without
// keeping a secret where a script can read it.
//
// A login proves an Authorization (an account's API key or the admin token, checked like any
// request's). The session keeps that Authorization in this node's memory under SHA-256 of a
// random 256-bit id; the id goes to the browser in the cookie `txmail_session` (HttpOnly,
// SameSite=Strict, Path=/, Secure when the login came over TLS). A request with the cookie is
// authenticated as if it sent the Authorization again, so a revoked key or a disabled account
// ends its sessions at once. Each session has a CSRF token, which every change must carry in
// X-CSRF-Token (api/service.cc). A session ends after kIdle without a request, kMaxAge after
// the login, at logout, when kMaxPerCredential newer ones of the same key or kMaxSessions newer
// ones in all push it out. Sessions are this node's:
// a browser sent to the other site logs in again.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace txmail::api {

inline constexpr std::string_view kSessionCookie = "txmail_session";

struct ConsoleSession {
  std::string authorization;  // the header value the login proved ("Bearer …")
  std::string csrf;           // 64 hex digits
  std::string account;        // "" for the operator
};

class ConsoleSessions {
 public:
  static constexpr std::chrono::minutes kIdle{30};
  static constexpr std::chrono::hours kMaxAge{12};
  static constexpr std::size_t kMaxSessions = 10000;
  static constexpr std::size_t kMaxPerCredential = 10;  // sessions of one key or token

  // A new session; returns its id (the cookie's value, 64 hex digits) and the session.
  std::pair<std::string, ConsoleSession> create(std::string authorization, std::string account);
  // The session a cookie's value names, its idle time restarted; nullopt when there is none.
  std::optional<ConsoleSession> find(std::string_view id);
  void erase(std::string_view id);
  std::size_t size() const;

 private:
  struct Entry {
    ConsoleSession session;
    Clock::time_point created;
    Clock::time_point used;
  };

  void evict(Clock::time_point now);  // under mutex_

  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> by_digest_;  // SHA-256(id), hex
};

// The value of cookie `name` in a Cookie header ("a=1; txmail_session=…"); nullopt if absent.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

}  // namespace txmail::api
