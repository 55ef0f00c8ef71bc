#include "app/zone_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "api/domains.h"
#include "app/domain_verifier.h"
#include "app/stores.h"
#include "common/duration.h"
#include "dkim/signature.h"
#include "dns/unbound_resolver.h"
#include "tenancy/domain_service.h"

namespace txmail::app {

namespace json = boost::json;

namespace {

int failed(const std::string& why) {
  fmt::print(stderr, "txmail: {}\n", why);
  return 1;
}

Result<ConfigBackend> open_store(const Config& config) {
  return ConfigBackend::open(config, false);
}

std::string quoted_strings(std::string_view text) {
  // A TXT record's character-strings hold 255 octets at most (RFC 1035 section 3.3).
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 255) {
    out += fmt::format("{}\"{}\"", i == 0 ? "" : " ", text.substr(i, 255));
  }
  return text.size() > 255 ? "( " + out + " )" : out;
}

}  // namespace

// TXT lookups of every name, through [dns] servers or the system resolver.
Result<tenancy::TxtAnswers> lookup_txt(const Config& config,
                                       const std::vector<std::string>& names) {
  asio::io_context io;
  auto resolver = dns::UnboundResolver::create(
      io.get_executor(), dns::UnboundOptions{config.dns_servers, std::chrono::seconds(10)});
  if (!resolver) {
    return tl::unexpected(resolver.error());
  }
  Result<tenancy::TxtAnswers> found = make_error(ErrorCode::kUnavailable, "no DNS answer");
  auto run = [&]() -> awaitable<void> {
    found = co_await lookup_records(**resolver, names);
    (*resolver)->shutdown();
  };
  asio::co_spawn(io, run(), log_failure("the domain command"));
  io.run();
  return found;
}

int dkim_verify(const Config& config, const std::string& file, bool as_json) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return failed("cannot read " + file);
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string message = text.str();
  // Files saved on Unix often have bare LF line ends: DKIM works on CRLF.
  if (message.find("\r\n") == std::string::npos) {
    std::string crlf;
    for (char c : message) {
      if (c == '\n') {
        crlf.push_back('\r');
      }
      crlf.push_back(c);
    }
    message = std::move(crlf);
  }
  // First the names the signatures need, then the lookups, then the verdicts.
  std::vector<std::string> names;
  const auto parts = dkim::split_message(message);
  for (const auto& f : dkim::header_fields(parts.headers)) {
    if (f.name.size() == 14 && strncasecmp(f.name.data(), "DKIM-Signature", 14) == 0) {
      const auto tags = dkim::parse_tags(f.raw.substr(f.raw.find(':') + 1));
      if (tags) {
        names.push_back(std::string(dkim::tag(*tags, "s").value_or("")) + "._domainkey."
                        + std::string(dkim::tag(*tags, "d").value_or("")));
      }
    }
  }
  auto found = lookup_txt(config, names);
  if (!found) {
    return failed("DNS lookups failed: " + found.error().detail);
  }
  const auto verdicts = dkim::verify(message, [&](const std::string& name) {
    const auto it = found->find(name);
    return it == found->end() || it->second.empty() ? std::string() : it->second.front();
  });
  bool all_ok = !verdicts.empty();
  json::array out;
  for (const auto& v : verdicts) {
    all_ok = all_ok && v.ok;
    if (as_json) {
      out.push_back(json::object{{"domain", v.domain},
                                 {"selector", v.selector},
                                 {"algorithm", v.algorithm},
                                 {"ok", v.ok},
                                 {"reason", v.reason}});
    } else {
      fmt::print("{} d={} s={} a={}{}\n", v.ok ? "pass" : "fail", v.domain, v.selector, v.algorithm,
                 v.ok ? "" : ": " + v.reason);
    }
  }
  if (as_json) {
    fmt::print("{}\n", json::serialize(out));
  } else if (verdicts.empty()) {
    fmt::print("none: the message has no DKIM-Signature\n");
  }
  return all_ok ? 0 : 1;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
Result<std::string> zone_file(const Config& config,
                              const std::vector<tenancy::SenderDomain>& domains, std::int64_t now) {
  const std::string& zone = config.domains.service_zone;
  const auto ttl = config.publish.ttl.count();
  std::string out;
  out += fmt::format("; txmail service zone, generated {} (txmail dns records)\n", now / 1000);
  out += fmt::format("$ORIGIN {}.\n$TTL {}\n", zone, ttl);
  const std::vector<std::string> nameservers = config.publish.nameservers.empty()
                                                   ? std::vector<std::string>{"ns1." + zone}
                                                   : config.publish.nameservers;
  const std::string hostmaster =
      config.publish.hostmaster.empty() ? "hostmaster." + zone : config.publish.hostmaster;
  out += fmt::format("@ IN SOA {}. {}. ( {} 3600 600 1209600 300 )\n", nameservers.front(),
                     hostmaster, now / 1000);
  for (const auto& ns : nameservers) {
    out += fmt::format("@ IN NS {}.\n", ns);
  }
  // SPF: every egress address of every site, in records of at most 450 octets (RFC 7208
  // section 3.4), chained by include: _spf, _spf2, _spf3...
  std::vector<std::string> mechanisms;
  auto add_mechanism = [&](const net::Cidr& c) {
    const std::string text = c.to_string();
    const bool v6 = text.find(':') != std::string::npos;
    const bool host = text.ends_with(v6 ? "/128" : "/32");
    mechanisms.push_back((v6 ? "ip6:" : "ip4:") + (host ? text.substr(0, text.rfind('/')) : text));
  };
  // Every site's sources (cluster mode), and every site's notification source address.
  for (const auto& a : config.notify_sources) {
    if (auto c = net::Cidr::parse(a.address)) {
      add_mechanism(*c);
    }
  }
  for (const auto& s : config.egress.sources) {
    if (s.address.empty() || s.address == "0.0.0.0" || s.address == "::") {
      continue;
    }
    auto c = net::Cidr::parse(s.address);
    if (c) {
      add_mechanism(*c);
    }
  }
  for (const auto& c : config.publish.extra_egress) {
    add_mechanism(c);
  }
  std::sort(mechanisms.begin(), mechanisms.end());
  mechanisms.erase(std::unique(mechanisms.begin(), mechanisms.end()), mechanisms.end());
  if (mechanisms.empty()) {
    out +=
        "; no egress address is configured ([[egress.source]] address, [publish] extra_egress):\n"
        "; the SPF record below authorizes nothing\n";
    fmt::print(stderr,
               "txmail: warning: no egress addresses in the config; SPF authorizes nothing\n");
  }
  constexpr std::size_t kMaxRecord = 450;
  std::vector<std::string> records;
  std::size_t next = 0;
  do {
    const std::string include_next = fmt::format(" include:_spf{}.{}", records.size() + 2, zone);
    std::string record = "v=spf1";
    while (next < mechanisms.size()) {
      const bool last = next + 1 == mechanisms.size();
      const std::size_t tail = (last ? 0 : include_next.size()) + 5;  // " ~all"
      if (record.size() + 1 + mechanisms[next].size() + tail > kMaxRecord) {
        break;
      }
      record += " " + mechanisms[next++];
    }
    if (next < mechanisms.size()) {
      record += include_next;
    }
    record += " ~all";
    records.push_back(std::move(record));
  } while (next < mechanisms.size());
  if (records.size() > 9) {
    return make_error(ErrorCode::kConfig,
                      fmt::format("the SPF chain needs {} records: over the 10 DNS lookups of "
                                  "RFC 7208 section 4.6.4; publish CIDR ranges instead",
                                  records.size()));
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    out +=
        fmt::format("{} IN TXT {}\n", i == 0 ? std::string("_spf") : fmt::format("_spf{}", i + 1),
                    quoted_strings(records[i]));
  }
  // DKIM keys of every domain, for customers who delegate their selectors by CNAME.
  for (const auto& d : domains) {
    for (const auto& k : d.keys) {
      if (k.state == tenancy::KeyState::kRetired && k.retire_at_ms <= now) {
        continue;
      }
      out +=
          fmt::format("{}.{}._dkim IN TXT {}\n", k.selector, d.name, quoted_strings(k.dns_record));
    }
  }
  for (const auto& ep : config.publish.endpoints) {
    for (const auto& a : ep.addresses) {
      out +=
          fmt::format("{} IN {} {}\n", ep.name, a.find(':') == std::string::npos ? "A" : "AAAA", a);
    }
  }
  return out;
}

int dns_records(const Config& config) {
  auto store = open_store(config);
  if (!store) {
    return failed(store.error().detail);
  }
  tenancy::DomainService service(store->store(), config.domains,
                                 [&config] { return load_master_key(config); });
  auto domains = service.list("");
  if (!domains) {
    return failed(domains.error().detail);
  }
  // Cluster mode: every site's sources as the region shares them, not this file's copy.
  Config published = config;
  if (store->clustered()) {
    auto shared = store->store().get(queue::kEgressKey);
    if (!shared) {
      return failed(shared.error().detail);
    }
    if (*shared) {
      auto egress = queue::egress_from_json((*shared)->value);
      if (!egress) {
        return failed("the region's egress settings: " + egress.error().detail);
      }
      published.egress = std::move(*egress);
    }
  }
  auto zone = zone_file(published, *domains, now_ms());
  if (!zone) {
    return failed(zone.error().detail);
  }
  fmt::print("{}", *zone);
  return 0;
}

}  // namespace txmail::app
