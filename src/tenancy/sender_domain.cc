#include "tenancy/sender_domain.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/idna.h"
#include "dkim/signature.h"

namespace txmail::tenancy {

namespace json = boost::json;

namespace {

constexpr std::string_view kSelectorPrefix = "txm";

std::string selector_for(int slot, dkim::Algorithm a) {
  return std::string(kSelectorPrefix) + std::to_string(slot)
         + (a == dkim::Algorithm::kEd25519Sha256 ? "e" : "");
}

bool parse_state(std::string_view s, KeyState& out) {
  for (KeyState k : {KeyState::kPending, KeyState::kActive, KeyState::kRetired}) {
    if (state_name(k) == s) {
      out = k;
      return true;
    }
  }
  return false;
}

// The slot (1 or 2) no key of this algorithm holds, or 0.
int free_slot(const SenderDomain& d, dkim::Algorithm a) {
  for (int slot : {1, 2}) {
    const std::string selector = selector_for(slot, a);
    const bool taken = std::any_of(d.keys.begin(), d.keys.end(),
                                   [&](const DomainKey& k) { return k.selector == selector; });
    if (!taken) {
      return slot;
    }
  }
  return 0;
}

Result<void> add_key(SenderDomain& d, const dkim::PrivateKey& key, const MasterKey& master,
                     std::int64_t now_ms) {
  const dkim::Algorithm a = key.algorithm();
  for (const auto& k : d.keys) {
    if (k.algorithm == a && k.state == KeyState::kPending) {
      return make_error(ErrorCode::kConflict,
                        "domain " + d.name + ": a " + std::string(dkim::algorithm_name(a))
                            + " key (" + k.selector + ") is already pending verification");
    }
  }
  const int slot = free_slot(d, a);
  if (slot == 0) {
    return make_error(ErrorCode::kConflict,
                      "domain " + d.name + ": both selectors are in use until the retired key's"
                                           " grace period ends");
  }
  DomainKey k;
  k.selector = selector_for(slot, a);
  k.algorithm = a;
  k.state = KeyState::kPending;
  k.created_ms = now_ms;
  const std::string pem = key.to_pem();
  k.sealed_private_key = master.seal(pem, "dkim:" + d.name + ":" + k.selector);
  k.public_key = key.public_key_base64();
  k.dns_record = key.dns_record();
  d.keys.push_back(std::move(k));
  return {};
}

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

bool starts_with_tag(std::string_view record, std::string_view tag) {
  return record.size() >= tag.size() && ieq(record.substr(0, tag.size()), tag);
}

// SPF: exactly one v=spf1 record, naming the service's include.
void check_spf(DnsCheck& c, const std::vector<std::string>& txt, const std::string& include) {
  std::vector<std::string> spf;
  for (const auto& r : txt) {
    if (starts_with_tag(r, "v=spf1") && (r.size() == 6 || r[6] == ' ')) {
      spf.push_back(r);
    }
  }
  if (spf.empty()) {
    c.status = "missing";
    return;
  }
  if (spf.size() > 1) {
    c.status = "wrong";
    c.found = "more than one SPF record (RFC 7208 section 4.5: a permanent error)";
    return;
  }
  std::string lowered = spf[0];
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  const std::string needle = "include:" + include;
  std::size_t pos = 0;
  bool found = false;
  while ((pos = lowered.find(needle, pos)) != std::string::npos) {
    const std::size_t end = pos + needle.size();
    if ((pos == 0 || lowered[pos - 1] == ' ' || lowered[pos - 1] == '+')
        && (end == lowered.size() || lowered[end] == ' ')) {
      found = true;
      break;
    }
    pos = end;
  }
  c.status = found ? "ok" : "wrong";
  if (!found) {
    c.found = spf[0];
  }
}

// DKIM: a key record whose p= is this key's.
void check_dkim(DnsCheck& c, const std::vector<std::string>& txt, const DomainKey& key) {
  if (txt.empty()) {
    c.status = "missing";
    return;
  }
  for (const auto& r : txt) {
    const auto tags = dkim::parse_tags(r);
    if (!tags) {
      continue;
    }
    if (dkim::strip_whitespace(dkim::tag(*tags, "p").value_or("")) == key.public_key) {
      c.status = "ok";
      return;
    }
  }
  c.status = "wrong";
  c.found = txt.front();
}

void check_dmarc(DnsCheck& c, const std::vector<std::string>& txt) {
  for (const auto& r : txt) {
    if (starts_with_tag(r, "v=DMARC1")) {
      c.status = "ok";
      return;
    }
  }
  c.status = "missing";
}

// The return-path subdomain's MX: one of its exchanges is the service's inbound host.
void check_mx(DnsCheck& c, const std::vector<std::string>& exchanges, const std::string& host) {
  if (exchanges.empty()) {
    c.status = "missing";
    return;
  }
  for (std::string e : exchanges) {
    if (e.ends_with('.')) {
      e.pop_back();
    }
    std::transform(e.begin(), e.end(), e.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (e == host) {
      c.status = "ok";
      return;
    }
  }
  c.status = "wrong";
  c.found = "MX";
  for (const auto& e : exchanges) {
    c.found += (c.found.size() == 2 ? " " : ", ") + e;
  }
}

// One record's check; a DKIM record that is in place adds its selector to `dkim_ok`.
void check_record(DnsCheck& c, const std::vector<std::string>& answers, const SenderDomain& d,
                  const DomainSettings& settings, std::vector<std::string>& dkim_ok) {
  if (c.purpose == "spf" || c.purpose == "return-path-spf") {
    check_spf(c, answers, settings.spf_name());
  } else if (c.purpose == "dmarc") {
    check_dmarc(c, answers);
  } else if (c.purpose == "return-path-mx") {
    check_mx(c, answers, settings.bounce_mx);
  } else {
    for (const auto& k : d.keys) {
      if (c.name == k.selector + "._domainkey." + d.name) {
        check_dkim(c, answers, k);
        if (c.status == "ok") {
          dkim_ok.push_back(k.selector);
        }
      }
    }
  }
}

}  // namespace

std::string DomainSettings::delegated_name(std::string_view domain,
                                           std::string_view selector) const {
  return std::string(selector) + "." + std::string(domain) + "._dkim." + service_zone;
}

std::string return_path_domain(std::string_view domain) {
  return "bounce." + std::string(domain);
}

std::string domain_key(std::string_view name) {
  return "domain/" + std::string(name);
}

Result<std::string> normalize_domain(std::string_view name) {
  std::string d(name);
  if (!d.empty() && d.back() == '.') {
    d.pop_back();
  }
  auto invalid = [&] {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + std::string(name) + "' is not a valid domain name");
  };
  // A sender domain is registered, signed for and looked up by its A-label (DKIM d= and the
  // DNS records are ASCII); a U-label given by a person finds the same domain.
  auto ascii = idna::to_ascii(d);
  if (!ascii) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "'" + std::string(name) + "' is not a valid domain name: " + ascii.error().detail);
  }
  d = std::move(*ascii);
  if (d.empty() || d.size() > 253 || d.find('.') == std::string::npos) {
    return invalid();
  }
  std::size_t start = 0;
  while (start <= d.size()) {
    std::size_t dot = d.find('.', start);
    if (dot == std::string::npos) {
      dot = d.size();
    }
    const std::string_view label = std::string_view{d}.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return invalid();
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return invalid();
      }
    }
    start = dot + 1;
  }
  return d;
}

std::string_view state_name(KeyState s) {
  switch (s) {
    case KeyState::kPending:
      return "pending";
    case KeyState::kActive:
      return "active";
    case KeyState::kRetired:
      return "retired";
  }
  return "pending";
}

std::string to_json(const SenderDomain& d) {
  json::array keys;
  for (const auto& k : d.keys) {
    json::object o;
    o["selector"] = k.selector;
    o["algorithm"] = std::string(dkim::algorithm_name(k.algorithm));
    o["state"] = std::string(state_name(k.state));
    o["created_ms"] = k.created_ms;
    o["activated_ms"] = k.activated_ms;
    o["retire_at_ms"] = k.retire_at_ms;
    o["sealed_private_key"] = k.sealed_private_key;
    o["public_key"] = k.public_key;
    o["dns_record"] = k.dns_record;
    keys.push_back(std::move(o));
  }
  json::array checks;
  for (const auto& c : d.checks) {
    json::object o;
    o["purpose"] = c.purpose;
    o["name"] = c.name;
    o["type"] = c.type;
    o["value"] = c.value;
    o["alternative_cname"] = c.alternative_cname;
    o["required"] = c.required;
    o["status"] = c.status;
    o["found"] = c.found;
    checks.push_back(std::move(o));
  }
  json::object o;
  o["name"] = d.name;
  o["account"] = d.account;
  o["created_ms"] = d.created_ms;
  o["verified"] = d.verified;
  o["verified_ms"] = d.verified_ms;
  o["checked_ms"] = d.checked_ms;
  o["return_path"] = d.return_path;
  o["keys"] = std::move(keys);
  o["checks"] = std::move(checks);
  return json::serialize(o);
}

Result<SenderDomain> domain_from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return make_error(ErrorCode::kCorrupt, "domain: not a JSON object");
  }
  const auto& o = v.as_object();
  auto str = [](const json::object& obj, const char* k) {
    const auto* p = obj.if_contains(k);
    return p != nullptr && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [](const json::object& obj, const char* k) {
    const auto* p = obj.if_contains(k);
    return p != nullptr && p->is_int64() ? p->as_int64() : std::int64_t{0};
  };
  auto flag = [](const json::object& obj, const char* k) {
    const auto* p = obj.if_contains(k);
    return p != nullptr && p->is_bool() && p->as_bool();
  };
  SenderDomain d;
  d.name = str(o, "name");
  d.account = str(o, "account");
  if (d.name.empty() || d.account.empty()) {
    return make_error(ErrorCode::kCorrupt, "domain: name and account are required");
  }
  d.created_ms = num(o, "created_ms");
  d.verified = flag(o, "verified");
  d.verified_ms = num(o, "verified_ms");
  d.checked_ms = num(o, "checked_ms");
  d.return_path = flag(o, "return_path");
  if (const auto* keys = o.if_contains("keys"); keys != nullptr && keys->is_array()) {
    for (const auto& kv : keys->as_array()) {
      if (!kv.is_object()) {
        return make_error(ErrorCode::kCorrupt, "domain " + d.name + ": bad key entry");
      }
      const auto& ko = kv.as_object();
      DomainKey k;
      k.selector = str(ko, "selector");
      if (!dkim::parse_algorithm(str(ko, "algorithm"), k.algorithm)
          || !parse_state(str(ko, "state"), k.state) || k.selector.empty()) {
        return make_error(ErrorCode::kCorrupt, "domain " + d.name + ": bad key entry");
      }
      k.created_ms = num(ko, "created_ms");
      k.activated_ms = num(ko, "activated_ms");
      k.retire_at_ms = num(ko, "retire_at_ms");
      k.sealed_private_key = str(ko, "sealed_private_key");
      k.public_key = str(ko, "public_key");
      k.dns_record = str(ko, "dns_record");
      d.keys.push_back(std::move(k));
    }
  }
  if (const auto* checks = o.if_contains("checks"); checks != nullptr && checks->is_array()) {
    for (const auto& cv : checks->as_array()) {
      if (!cv.is_object()) {
        continue;
      }
      const auto& co = cv.as_object();
      DnsCheck c;
      c.purpose = str(co, "purpose");
      c.name = str(co, "name");
      c.type = str(co, "type");
      c.value = str(co, "value");
      c.alternative_cname = str(co, "alternative_cname");
      c.required = flag(co, "required");
      c.status = str(co, "status");
      c.found = str(co, "found");
      d.checks.push_back(std::move(c));
    }
  }
  return d;
}

Result<SenderDomain> create_domain(const std::string& name, const std::string& account,
                                   const DomainSettings& settings, const MasterKey& master,
                                   std::int64_t now_ms) {
  auto normalized = normalize_domain(name);
  if (!normalized) {
    return tl::unexpected(normalized.error());
  }
  SenderDomain d;
  d.name = *normalized;
  d.account = account;
  d.created_ms = now_ms;
  auto rsa = dkim::PrivateKey::generate(dkim::Algorithm::kRsaSha256, settings.rsa_bits);
  if (!rsa) {
    return tl::unexpected(rsa.error());
  }
  if (auto r = add_key(d, *rsa, master, now_ms); !r) {
    return tl::unexpected(r.error());
  }
  if (settings.ed25519) {
    auto ed = dkim::PrivateKey::generate(dkim::Algorithm::kEd25519Sha256);
    if (!ed) {
      return tl::unexpected(ed.error());
    }
    if (auto r = add_key(d, *ed, master, now_ms); !r) {
      return tl::unexpected(r.error());
    }
  }
  d.checks = records_to_publish(d, settings);
  return d;
}

Result<void> rotate_keys(SenderDomain& d, const DomainSettings& settings, const MasterKey& master,
                         std::int64_t now_ms) {
  std::vector<dkim::Algorithm> algorithms = {dkim::Algorithm::kRsaSha256};
  const bool has_ed25519 = std::any_of(d.keys.begin(), d.keys.end(), [](const DomainKey& k) {
    return k.algorithm == dkim::Algorithm::kEd25519Sha256;
  });
  if (settings.ed25519 || has_ed25519) {
    algorithms.push_back(dkim::Algorithm::kEd25519Sha256);
  }
  SenderDomain next = d;  // all or nothing
  for (const auto a : algorithms) {
    auto key = dkim::PrivateKey::generate(a, settings.rsa_bits);
    if (!key) {
      return tl::unexpected(key.error());
    }
    if (auto r = add_key(next, *key, master, now_ms); !r) {
      return r;
    }
  }
  d = std::move(next);
  d.checks = records_to_publish(d, settings);
  return {};
}

Result<void> import_key(SenderDomain& d, std::string_view pem, const MasterKey& master,
                        std::int64_t now_ms) {
  auto key = dkim::PrivateKey::from_pem(pem);
  if (!key) {
    return tl::unexpected(key.error());
  }
  // A pending key of that algorithm was never in use: the imported key takes its place.
  std::erase_if(d.keys, [&](const DomainKey& k) {
    return k.algorithm == key->algorithm() && k.state == KeyState::kPending;
  });
  return add_key(d, *key, master, now_ms);
}

std::vector<DnsCheck> records_to_publish(const SenderDomain& d, const DomainSettings& settings) {
  std::vector<DnsCheck> out;
  DnsCheck spf;
  spf.purpose = "spf";
  spf.name = d.name;
  spf.type = "TXT";
  spf.value = "v=spf1 include:" + settings.spf_name() + " ~all";
  out.push_back(std::move(spf));
  for (const auto& k : d.keys) {
    if (k.state == KeyState::kRetired) {
      continue;
    }
    DnsCheck dkim;
    dkim.purpose = "dkim";
    dkim.name = k.selector + "._domainkey." + d.name;
    dkim.type = "TXT";
    dkim.value = k.dns_record;
    dkim.alternative_cname = settings.delegated_name(d.name, k.selector);
    dkim.required = k.algorithm == dkim::Algorithm::kRsaSha256;
    out.push_back(std::move(dkim));
  }
  DnsCheck dmarc;
  dmarc.purpose = "dmarc";
  dmarc.name = "_dmarc." + d.name;
  dmarc.type = "TXT";
  dmarc.value = "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + d.name;
  dmarc.required = false;
  out.push_back(std::move(dmarc));
  if (!settings.bounce_mx.empty()) {
    DnsCheck mx;
    mx.purpose = "return-path-mx";
    mx.name = return_path_domain(d.name);
    mx.type = "MX";
    mx.value = "10 " + settings.bounce_mx + ".";
    mx.required = false;
    out.push_back(std::move(mx));
    DnsCheck rp_spf;
    rp_spf.purpose = "return-path-spf";
    rp_spf.name = return_path_domain(d.name);
    rp_spf.type = "TXT";
    rp_spf.value = "v=spf1 include:" + settings.spf_name() + " ~all";
    rp_spf.required = false;
    out.push_back(std::move(rp_spf));
  }
  return out;
}

std::vector<std::string> names_to_verify(const SenderDomain& d, const DomainSettings& settings) {
  std::vector<std::string> names;
  for (const auto& c : records_to_publish(d, settings)) {
    names.push_back(c.type == "MX" ? std::string(kMxQuery) + c.name : c.name);
  }
  return names;
}

TxtLookup lookup_in(const TxtAnswers& answers) {
  return [&answers](const std::string& name) -> Result<std::vector<std::string>> {
    const auto it = answers.find(name);
    return it == answers.end() ? std::vector<std::string>{} : it->second;
  };
}

Result<void> verify_domain(SenderDomain& d, const DomainSettings& settings, const TxtLookup& lookup,
                           std::int64_t now_ms) {
  // Retired keys whose grace is over are no longer published nor kept.
  std::erase_if(d.keys, [&](const DomainKey& k) {
    return k.state == KeyState::kRetired && k.retire_at_ms <= now_ms;
  });
  std::vector<DnsCheck> checks = records_to_publish(d, settings);
  std::vector<std::string> dkim_ok;  // selectors whose record is in place
  for (auto& c : checks) {
    auto answers = lookup(c.type == "MX" ? std::string(kMxQuery) + c.name : c.name);
    if (!answers) {
      return make_error(answers.error().code,
                        "verifying " + c.name + ": " + answers.error().detail);
    }
    check_record(c, *answers, d, settings, dkim_ok);
  }
  // A pending key whose record is in place becomes active; the key it replaces retires.
  for (auto& k : d.keys) {
    if (k.state != KeyState::kPending
        || std::find(dkim_ok.begin(), dkim_ok.end(), k.selector) == dkim_ok.end()) {
      continue;
    }
    for (auto& old : d.keys) {
      if (old.algorithm == k.algorithm && old.state == KeyState::kActive) {
        old.state = KeyState::kRetired;
        old.retire_at_ms = now_ms + settings.rotation_grace.count();
      }
    }
    k.state = KeyState::kActive;
    k.activated_ms = now_ms;
  }
  // Retired keys stay in the published list during their grace (their checks are advisory).
  const bool spf_ok = std::any_of(checks.begin(), checks.end(), [](const DnsCheck& c) {
    return c.purpose == "spf" && c.status == "ok";
  });
  const bool rsa_ok = std::any_of(d.keys.begin(), d.keys.end(), [&](const DomainKey& k) {
    return k.state == KeyState::kActive && k.algorithm == dkim::Algorithm::kRsaSha256
           && std::find(dkim_ok.begin(), dkim_ok.end(), k.selector) != dkim_ok.end();
  });
  const bool was_verified = d.verified;
  d.verified = spf_ok && rsa_ok;
  if (d.verified && !was_verified) {
    d.verified_ms = now_ms;
  }
  d.checked_ms = now_ms;
  // The return path is the subdomain's once its MX and SPF are in place (and the domain is).
  const auto in_place = [&](std::string_view purpose) {
    return std::any_of(checks.begin(), checks.end(),
                       [&](const DnsCheck& c) { return c.purpose == purpose && c.status == "ok"; });
  };
  d.return_path = d.verified && in_place("return-path-mx") && in_place("return-path-spf");
  d.checks = std::move(checks);
  return {};
}

std::vector<const DomainKey*> signing_keys(const SenderDomain& d) {
  std::vector<const DomainKey*> out;
  for (auto a : {dkim::Algorithm::kRsaSha256, dkim::Algorithm::kEd25519Sha256}) {
    const DomainKey* pick = nullptr;
    for (const auto& k : d.keys) {
      if (k.algorithm != a) {
        continue;
      }
      if (k.state == KeyState::kActive) {
        pick = &k;
        break;
      }
      if (k.state == KeyState::kPending && pick == nullptr) {
        pick = &k;
      }
    }
    if (pick != nullptr) {
      out.push_back(pick);
    }
  }
  return out;
}

}  // namespace txmail::tenancy
