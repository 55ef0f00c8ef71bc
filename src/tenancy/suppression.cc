#include "tenancy/suppression.h"

#include <algorithm>
#include <boost/json.hpp>
#include <mutex>

#include "common/duration.h"
#include "common/idna.h"
#include "common/log.h"

namespace txmail::tenancy {

namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "suppress/";

std::string to_json(const Suppression& s) {
  json::object o{
      {"address", s.address},       {"scope", s.scope},   {"type", suppression_type_name(s.type)},
      {"reason", s.reason},         {"source", s.source}, {"created_ms", s.created_ms},
      {"expires_ms", s.expires_ms}, {"ttl_ms", s.ttl_ms}};
  return json::serialize(o);
}

std::optional<Suppression> from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.as_object();
  auto str = [&o](const char* k) {
    const auto* p = o.if_contains(k);
    return p != nullptr && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [&o](const char* k) {
    const auto* p = o.if_contains(k);
    return p != nullptr && p->is_int64() ? p->as_int64() : std::int64_t{0};
  };
  Suppression s;
  s.address = str("address");
  s.scope = str("scope");
  const std::string type = str("type");
  s.type = type == "TEMPORARY_SUPPRESSED" ? SuppressionType::kTemporary
           : type == "COMPLAINT"          ? SuppressionType::kComplaint
           : type == "UNSUBSCRIBED"       ? SuppressionType::kUnsubscribed
                                          : SuppressionType::kPreviouslyBounced;
  s.reason = str("reason");
  s.source = str("source");
  s.created_ms = num("created_ms");
  s.expires_ms = num("expires_ms");
  s.ttl_ms = num("ttl_ms");
  if (s.address.empty() || s.scope.empty()) {
    return std::nullopt;
  }
  return s;
}

}  // namespace

std::string_view suppression_type_name(SuppressionType t) {
  switch (t) {
    case SuppressionType::kTemporary:
      return "TEMPORARY_SUPPRESSED";
    case SuppressionType::kComplaint:
      return "COMPLAINT";
    case SuppressionType::kUnsubscribed:
      return "UNSUBSCRIBED";
    case SuppressionType::kPreviouslyBounced:
      break;
  }
  return "PREVIOUSLY_BOUNCED";
}

std::string lower_address(std::string_view address) {
  std::string out(address);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // One key per mailbox: the domain in its A-label form, so a bounce recorded for
  // josé@xn--bcher-kva.example is found when sending to josé@bücher.example and back.
  return idna::address_key(out);
}

std::string suppression_key(const std::string& scope, const std::string& address) {
  return std::string(kPrefix) + scope + "/" + lower_address(address);
}

std::optional<Suppression> suppression_for_bounce(smtp::SuppressionClass bounce,
                                                  std::string_view reply,
                                                  const SuppressionSettings& settings) {
  Suppression s;
  s.reason = std::string(reply.substr(0, 300));
  s.source = "bounce";
  switch (bounce) {
    case smtp::SuppressionClass::kNone:
      return std::nullopt;
    case smtp::SuppressionClass::kNoSuchUser:  // no such user, bad mailbox or domain
      s.type = SuppressionType::kPreviouslyBounced;
      s.ttl_ms = settings.no_such_user.count();
      break;
    case smtp::SuppressionClass::kMailboxFull:
      s.type = SuppressionType::kTemporary;
      s.ttl_ms = settings.full_mailbox.count();
      break;
    case smtp::SuppressionClass::kOtherPermanent:
      s.type = SuppressionType::kPreviouslyBounced;
      s.ttl_ms = settings.other_permanent.count();
      break;
  }
  return s;
}

std::string describe(const Suppression& s) {
  return "ts=\"" + iso8601_ms(s.created_ms) + "\", reason=\"" + s.reason + "\", until=\""
         + iso8601_ms(s.expires_ms) + "\"";
}

Result<std::unique_ptr<SuppressionList>> SuppressionList::load(store::ConfigStore& store,
                                                               SuppressionSettings settings) {
  std::unique_ptr<SuppressionList> list(new SuppressionList(store, std::move(settings)));
  list->watch_id_ = store.watch(std::string(kPrefix),
                                [l = list.get()](const store::ConfigChange& c) { l->apply(c); });
  auto entries = store.list(kPrefix);
  if (!entries) {
    return tl::unexpected(entries.error());
  }
  for (const auto& e : *entries) {
    list->apply(store::ConfigChange{e.key, e.value, e.revision});
  }
  return list;
}

SuppressionList::~SuppressionList() {
  store_.unwatch(watch_id_);
}

void SuppressionList::apply(const store::ConfigChange& change) {
  std::unique_lock lock(mutex_);
  if (!change.value) {
    entries_.erase(change.key);
    return;
  }
  if (auto s = from_json(*change.value)) {
    entries_[change.key] = std::move(*s);
  } else {
    logger()->error("suppression entry unreadable key={}", change.key);
    entries_.erase(change.key);
  }
}

std::optional<Suppression> SuppressionList::find(const std::string& account,
                                                 const std::string& address,
                                                 std::int64_t now) const {
  const std::string key = suppression_key(scope_of(account), address);
  std::shared_lock lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.expires_ms <= now) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<Suppression> SuppressionList::list(const std::string& scope, const std::string& after,
                                               std::size_t limit, std::int64_t now) const {
  const std::string prefix = std::string(kPrefix) + scope + "/";
  std::vector<Suppression> out;
  std::shared_lock lock(mutex_);
  auto it = after.empty() ? entries_.lower_bound(prefix)
                          : entries_.upper_bound(prefix + lower_address(after));
  for (; it != entries_.end() && it->first.starts_with(prefix) && out.size() < limit; ++it) {
    if (it->second.expires_ms > now) {
      out.push_back(it->second);
    }
  }
  return out;
}

bool SuppressionList::forbidden(std::string_view address) const {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || settings_.forbidden_local_parts.empty()) {
    return false;
  }
  const std::string local = lower_address(address.substr(0, at));
  return std::find(settings_.forbidden_local_parts.begin(), settings_.forbidden_local_parts.end(),
                   local)
         != settings_.forbidden_local_parts.end();
}

std::size_t SuppressionList::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

Result<Suppression> SuppressionList::add(Suppression s) {
  s.address = lower_address(s.address);
  if (s.created_ms == 0) {
    s.created_ms = now_ms();
  }
  if (s.expires_ms == 0) {
    s.expires_ms = s.created_ms + s.ttl_ms;
  }
  auto put = store_.put(suppression_key(s.scope, s.address), to_json(s), store::Expect::any());
  if (!put) {
    return tl::unexpected(put.error());
  }
  return s;
}

Result<void> SuppressionList::remove(const std::string& scope, const std::string& address) {
  const std::string key = suppression_key(scope, address);
  // A renewal (a job to the address dropped meanwhile, here or at another node) may change the
  // entry between the read and the erase: the entry read again is erased, a few times at most.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    auto existing = store_.get(key);
    if (!existing) {
      return tl::unexpected(existing.error());
    }
    if (!existing->has_value()) {
      return make_error(ErrorCode::kNotFound, "no suppression for " + lower_address(address));
    }
    auto erased = store_.erase(key, store::Expect::at((*existing)->revision));
    if (erased) {
      return {};
    }
    if (erased.error().code != ErrorCode::kConflict || attempt == kAttempts) {
      return tl::unexpected(erased.error());
    }
  }
}

Result<void> SuppressionList::renew(const Suppression& s, std::int64_t now) {
  Suppression renewed = s;
  renewed.expires_ms = std::max(s.expires_ms, now + s.ttl_ms);
  auto put =
      store_.put(suppression_key(s.scope, s.address), to_json(renewed), store::Expect::any());
  if (!put) {
    return tl::unexpected(put.error());
  }
  return {};
}

Result<std::optional<Suppression>> SuppressionList::add_bounce(const std::string& account,
                                                               const std::string& address,
                                                               smtp::SuppressionClass bounce,
                                                               std::string_view reply,
                                                               std::int64_t now_ms) {
  auto entry = suppression_for_bounce(bounce, reply, settings_);
  if (!entry) {
    return std::optional<Suppression>{};
  }
  // A bounce of a mail sent before the recipient complained (or unsubscribed) never shortens
  // that entry.
  if (auto existing = find(account, address, now_ms);
      existing
      && (existing->type == SuppressionType::kComplaint
          || existing->type == SuppressionType::kUnsubscribed)) {
    return std::optional<Suppression>(*existing);
  }
  entry->address = address;
  entry->scope = scope_of(account);
  entry->created_ms = now_ms;
  auto added = add(std::move(*entry));
  if (!added) {
    logger()->error("suppression of {} failed: {}", address, added.error().detail);
    return tl::unexpected(added.error());
  }
  logger()->info("suppressed address={} scope={} type={} until={}", added->address, added->scope,
                 suppression_type_name(added->type), iso8601_ms(added->expires_ms));
  return std::optional<Suppression>(*added);
}

Result<Suppression> SuppressionList::add_complaint(const std::string& account,
                                                   const std::string& address,
                                                   std::string_view reason, std::int64_t now_ms) {
  return add_for(account, address, SuppressionType::kComplaint, reason, now_ms);
}

Result<Suppression> SuppressionList::add_unsubscribe(const std::string& account,
                                                     const std::string& address,
                                                     std::string_view reason, std::int64_t now_ms) {
  return add_for(account, address, SuppressionType::kUnsubscribed, reason, now_ms);
}

Result<Suppression> SuppressionList::add_for(const std::string& account, const std::string& address,
                                             SuppressionType type, std::string_view reason,
                                             std::int64_t now_ms) {
  const bool complaint = type == SuppressionType::kComplaint;
  Suppression s;
  s.address = address;
  s.scope = scope_of(account);
  s.type = type;
  s.reason = std::string(reason.substr(0, 300));
  s.source = complaint ? "complaint" : "unsubscribe";
  s.created_ms = now_ms;
  s.ttl_ms = (complaint ? settings_.complaint : settings_.unsubscribe).count();
  auto added = add(std::move(s));
  if (!added) {
    logger()->error("suppression of {} failed: {}", address, added.error().detail);
    return added;
  }
  logger()->info("suppressed address={} scope={} type={} until={}", added->address, added->scope,
                 suppression_type_name(type), iso8601_ms(added->expires_ms));
  return added;
}

Result<std::size_t> SuppressionList::purge(std::int64_t now) {
  std::vector<std::string> expired;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [key, s] : entries_) {
      if (s.expires_ms <= now) {
        expired.push_back(key);
      }
    }
  }
  for (const auto& key : expired) {
    if (auto r = store_.erase(key, store::Expect::any());
        !r && r.error().code != ErrorCode::kNotFound) {
      return tl::unexpected(r.error());
    }
  }
  return expired.size();
}

}  // namespace txmail::tenancy
