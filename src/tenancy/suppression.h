// The suppression list (issue core-5, item 5): addresses that bounced are not sent to again for
// a while. A hard bounce adds the address by the suppression class the reply table gave it
// (smtp/client/trouble.h, which reads the reply): 45 days for "no such user", 1 day as
// temporarily suppressed for a full mailbox, 7 days for other permanent failures. Sending to a
// suppressed address drops the recipient (DROPPED/PREVIOUSLY_BOUNCED) and renews the entry's
// expiry. A complaint (an ARF feedback report, issue bounce-1) adds the address as COMPLAINT
// for its own lifetime ([suppression] complaint_ttl, 365 days by default); sending to it drops
// the recipient as DROPPED/PREVIOUSLY_COMPLAINED. A one-click (or mailto) unsubscribe adds it
// as UNSUBSCRIBED ([suppression] unsubscribe_ttl, 10 years by default: for good, in practice);
// sending to it drops the recipient as DROPPED/PREVIOUSLY_UNSUBSCRIBED.
//
// Entries live in the config store ("suppress/<scope>/<address>", scope = the account, or "*"
// when the list is global by config) and in memory here, kept current by a watch, so an SMTP
// session asks on its I/O thread without touching the disk. Writes block: worker threads.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "smtp/client/trouble.h"
#include "store/config_store.h"

namespace txmail::tenancy {

enum class SuppressionType { kPreviouslyBounced, kTemporary, kComplaint, kUnsubscribed };

// PREVIOUSLY_BOUNCED, TEMPORARY_SUPPRESSED, COMPLAINT, UNSUBSCRIBED
std::string_view suppression_type_name(SuppressionType t);

struct Suppression {
  std::string address;  // lower case, the domain as an A-label (lower_address)
  std::string scope;    // the account, or "*"
  SuppressionType type = SuppressionType::kPreviouslyBounced;
  std::string reason;  // the remote reply, or what the operator said
  std::string source;  // "bounce", "complaint", "unsubscribe" or "api"
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t ttl_ms = 0;  // a renewal extends the expiry by this much from now
};

struct SuppressionSettings {
  bool global = false;  // one list for every account
  std::chrono::milliseconds no_such_user = std::chrono::hours(24 * 45);
  std::chrono::milliseconds other_permanent = std::chrono::hours(24 * 7);
  std::chrono::milliseconds full_mailbox = std::chrono::hours(24);
  std::chrono::milliseconds complaint = std::chrono::hours(24 * 365);
  std::chrono::milliseconds unsubscribe = std::chrono::hours(24 * 3650);
  // Role local parts never sent to (DROPPED/FORBIDDEN_RECIPIENT), lower case: "abuse", ...
  std::vector<std::string> forbidden_local_parts;
};

// What a hard bounce adds, if anything: nullopt for SuppressionClass::kNone. `reply` (the
// remote's answer as the event shows it) becomes the entry's reason.
std::optional<Suppression> suppression_for_bounce(smtp::SuppressionClass bounce,
                                                  std::string_view reply,
                                                  const SuppressionSettings& settings);

// "ts=..., reason=..." for the DROPPED event, as the service txmail is modelled on writes it.
std::string describe(const Suppression& s);

class SuppressionList {
 public:
  static Result<std::unique_ptr<SuppressionList>> load(store::ConfigStore& store,
                                                       SuppressionSettings settings);
  ~SuppressionList();
  SuppressionList(const SuppressionList&) = delete;
  SuppressionList& operator=(const SuppressionList&) = delete;
  SuppressionList(SuppressionList&&) = delete;
  SuppressionList& operator=(SuppressionList&&) = delete;

  const SuppressionSettings& settings() const { return settings_; }

  // The scope an account's entries live in ("*" when global).
  std::string scope_of(const std::string& account) const {
    return settings_.global ? "*" : account;
  }

  // The live entry for this account's recipient (memory only; any thread).
  std::optional<Suppression> find(const std::string& account, const std::string& address,
                                  std::int64_t now_ms) const;
  // Whether the address's local part is a forbidden role address (any thread).
  bool forbidden(std::string_view address) const;
  // Live entries of a scope in address order, after `after`, at most `limit`.
  std::vector<Suppression> list(const std::string& scope, const std::string& after,
                                std::size_t limit, std::int64_t now_ms) const;

  // Store writes (block on disk).
  Result<Suppression> add(Suppression s);  // replaces an entry of the same address
  Result<void> remove(const std::string& scope, const std::string& address);  // kNotFound
  Result<void> renew(const Suppression& s, std::int64_t now_ms);
  // What a hard bounce of this account's recipient adds (suppression_for_bounce), logged; a
  // class kNone adds nothing (nullopt).
  Result<std::optional<Suppression>> add_bounce(const std::string& account,
                                                const std::string& address,
                                                smtp::SuppressionClass bounce,
                                                std::string_view reply, std::int64_t now_ms);
  // A complaint about this account's recipient: a COMPLAINT entry for settings().complaint,
  // `reason` (what the report said) as its reason; logged.
  Result<Suppression> add_complaint(const std::string& account, const std::string& address,
                                    std::string_view reason, std::int64_t now_ms);
  // An unsubscribe of this account's recipient: an UNSUBSCRIBED entry for
  // settings().unsubscribe, `reason` (how it came) as its reason; logged.
  Result<Suppression> add_unsubscribe(const std::string& account, const std::string& address,
                                      std::string_view reason, std::int64_t now_ms);
  // Erases expired entries; returns how many.
  Result<std::size_t> purge(std::int64_t now_ms);

  std::size_t size() const;

 private:
  SuppressionList(store::ConfigStore& store, SuppressionSettings settings)
      : store_(store), settings_(std::move(settings)) {}

  void apply(const store::ConfigChange& change);
  // What a complaint (kComplaint) or an unsubscribe (kUnsubscribed) adds, logged.
  Result<Suppression> add_for(const std::string& account, const std::string& address,
                              SuppressionType type, std::string_view reason, std::int64_t now_ms);

  store::ConfigStore& store_;
  SuppressionSettings settings_;
  std::uint64_t watch_id_ = 0;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Suppression> entries_;  // by key
};

std::string suppression_key(const std::string& scope, const std::string& address);
// The key form of an address: lower case, the domain in A-label form (common/idna.h).
std::string lower_address(std::string_view address);

}  // namespace txmail::tenancy
