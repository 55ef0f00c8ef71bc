// [bounces]: the return path's domain and what the inbound listener does with what comes back
// (issue bounce-1).
#include "app/config_parse.h"
#include "common/idna.h"

namespace txmail::app::detail {

namespace {

// A host name of two labels or more, each 1-63 letters, digits or hyphens (not at either end),
// 253 characters at most: what may follow the @ of an envelope sender txmail writes.
bool host_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char ch : label) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                      || (ch >= '0' && ch <= '9') || ch == '-';
      if (!ok) {
        return false;
      }
    }
    start = dot + 1;
  }
  return true;
}

// A domain as its A-label if it is a host name; the reason it is not, else.
Result<std::string> domain_of(const std::string& domain) {
  auto ascii = idna::to_ascii(domain);
  if (!ascii || !host_name(*ascii)) {
    return make_error(ErrorCode::kConfig,
                      "\"" + domain + "\" is not a valid domain name"
                          + (ascii ? std::string() : " (" + ascii.error().detail + ")"));
  }
  return *ascii;
}

// [bounces] feedback_address: where feedback loops send complaints, lower case.
Result<void> read_feedback_address(const toml::table& t, Config& c) {
  std::string address;
  read_string(t, "bounces.feedback_address", address);
  if (address.empty()) {
    return {};
  }
  if (c.bounce_domain.empty()) {
    return bad("bounces.feedback_address", "needs bounces.domain");
  }
  const auto at = address.rfind('@');
  if (at == 0 || at == std::string::npos || address.find_first_of(" <>\"") != std::string::npos) {
    return bad("bounces.feedback_address",
               "\"" + address + "\" is not an address like fbl@" + c.bounce_domain);
  }
  auto domain = domain_of(address.substr(at + 1));
  if (!domain) {
    return bad("bounces.feedback_address", domain.error().detail);
  }
  c.feedback_address = tenancy::lower_address(address.substr(0, at) + "@" + *domain);
  return {};
}

// [bounces] unsubscribe_url: https://host[:port][/path], what the API's /u/<token> is reached
// by from outside; stored without a trailing '/'.
Result<void> read_unsubscribe_url(const toml::table& t, Config& c) {
  std::string url;
  read_string(t, "bounces.unsubscribe_url", url);
  if (url.empty()) {
    return {};
  }
  if (c.bounce_domain.empty()) {
    return bad("bounces.unsubscribe_url", "needs bounces.domain (the links' mailto address)");
  }
  constexpr std::string_view kScheme = "https://";
  const auto not_url = [&url] {
    return bad("bounces.unsubscribe_url",
               "\"" + url + "\" is not an https URL like https://mail.example.com");
  };
  if (!url.starts_with(kScheme) || url.find_first_of(" \t<>\"',?#%\\@") != std::string::npos) {
    return not_url();
  }
  const std::string rest = url.substr(kScheme.size());
  const std::string authority = rest.substr(0, rest.find('/'));
  const std::string host = authority.substr(0, authority.find(':'));
  if (host.empty() || !domain_of(host)) {
    return not_url();
  }
  if (const auto colon = authority.find(':'); colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5
        || port.find_first_not_of("0123456789") != std::string::npos) {
      return not_url();
    }
  }
  while (url.ends_with('/')) {
    url.pop_back();
  }
  c.unsubscribe_url = url;
  return {};
}

}  // namespace

Result<void> read_bounces(const toml::table& t, Config& c) {
  std::string domain;
  read_string(t, "bounces.domain", domain);
  if (!domain.empty()) {
    auto ascii = domain_of(domain);
    if (!ascii) {
      return bad("bounces.domain", ascii.error().detail);
    }
    c.bounce_domain = *ascii;
  }
  // [bounces] mx: the inbound host a customer's return-path subdomain points to.
  std::string mx;
  read_string(t, "bounces.mx", mx);
  if (!mx.empty()) {
    if (c.bounce_domain.empty()) {
      return bad("bounces.mx",
                 "needs bounces.domain (custom return paths come back to the same inbound "
                 "listener)");
    }
    auto host = domain_of(mx);
    if (!host) {
      return bad("bounces.mx", host.error().detail);
    }
    c.domains.bounce_mx = *host;
  }
  if (auto r = read_feedback_address(t, c); !r) {
    return r;
  }
  if (auto r = read_unsubscribe_url(t, c); !r) {
    return r;
  }
  if (auto r = read_count(t, "bounces.kept_messages", c.kept_messages, 0, 1'000'000); !r) {
    return r;
  }
  if (const auto size = t.at_path("bounces.kept_bytes").value<std::string>()) {
    auto n = parse_size(*size);
    if (!n || *n < 1024 || *n > (1ULL << 40)) {
      return bad("bounces.kept_bytes", "must be a size between 1KB and 1TB, like \"10MB\"");
    }
    c.kept_bytes = *n;
  }
  return {};
}

}  // namespace txmail::app::detail
