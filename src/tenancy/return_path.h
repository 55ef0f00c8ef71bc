// The return path the service owns (issue bounce-1, item 1): each recipient's envelope sender
// is b-<token>@<bounce domain>, where the token names the recipient's mail id and carries a MAC
// under a key derived from the master key, so a bounce or complaint that comes back names the
// mail it answers, and a forged or altered one names nothing (it can suppress nobody).
//
// The token is base32 (RFC 4648 alphabet in lower case, no padding: local parts are compared
// case-insensitively by many servers) of the mail id's 24 bytes (job id 16, block 4, index 4,
// big-endian) and the first 10 bytes of HMAC-SHA256 over them: 55 characters, 57 with "b-",
// within the 64 of a local part (RFC 5321 section 4.5.3.1.1). Pure; any thread.
//
// The one-click unsubscribe token (issue bounce-1, item 5; api/unsubscribe.h) is made the same
// way under its own key (derive("txmail unsubscribe v1")) and prefix ("u-"): a return path is
// never an unsubscribe token, nor the other way round.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace txmail::tenancy {

class MasterKey;

class ReturnPath {
 public:
  // `key`: a secret of at least 32 bytes (the master key's derive("txmail return path v1"));
  // `prefix`: the letter before the '-' of every token (a lower-case letter).
  explicit ReturnPath(std::string key, char prefix = 'b') : key_(std::move(key)), prefix_(prefix) {}

  static ReturnPath from(const MasterKey& master);
  // The tokens of one-click unsubscribe: "u-<token>", under derive("txmail unsubscribe v1").
  static ReturnPath unsubscribe_from(const MasterKey& master);

  // "b-<token>" ("u-<token>" for unsubscribe tokens) for a mail id ("<job id>#<block hex8>#<index
  // hex8>"); nullopt when it is not one of txmail's.
  std::optional<std::string> local_part(std::string_view mail_id) const;
  // The mail id a local part names ("b-<token>", either case), when its MAC is right; nullopt
  // for anything forged, altered, truncated or not a return path at all.
  std::optional<std::string> mail_id(std::string_view local_part) const;

  static constexpr std::size_t kMacBytes = 10;
  static constexpr std::size_t kTokenChars = 55;

 private:
  std::string mac(std::string_view payload) const;

  std::string key_;
  char prefix_;
};

}  // namespace txmail::tenancy
