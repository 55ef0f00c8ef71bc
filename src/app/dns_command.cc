#include "app/dns_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/base64.h"
#include "common/idna.h"
#include "dns/mx.h"
#include "dns/unbound_resolver.h"
#include "tenancy/password_hash.h"

namespace txmail::app {

namespace json = boost::json;

namespace {

json::object error_json(const Error& e) {
  return json::object{{"error", to_string(e.code)},
                      {"permanent", classify(e.code).persistence == Persistence::kPermanent},
                      {"detail", e.detail}};
}

json::object answer_json(const dns::Answer& a) {
  json::array values(a.values.begin(), a.values.end());
  json::array mx;
  for (const auto& m : a.mx) {
    mx.push_back(json::object{{"preference", m.preference}, {"exchange", m.exchange}});
  }
  json::array tlsa;
  for (const auto& t : a.tlsa) {
    tlsa.push_back(json::object{{"usage", t.usage},
                                {"selector", t.selector},
                                {"matching", t.matching},
                                {"data_b64", base64_encode(t.data)}});
  }
  return json::object{{"values", std::move(values)},
                      {"mx", std::move(mx)},
                      {"tlsa", std::move(tlsa)},
                      {"ttl", a.ttl.count()},
                      {"secure", a.secure}};
}

// Runs one lookup coroutine on a private io_context and prints its JSON; exit 0 on an
// answer, 1 on a DNS failure, 2 on bad arguments.
template <typename Lookup>
int run_lookup(const std::vector<std::string>& servers, Lookup lookup) {
  asio::io_context io;
  auto resolver = dns::UnboundResolver::create(
      io.get_executor(), dns::UnboundOptions{servers, std::chrono::seconds(10)});
  if (!resolver) {
    fmt::print(stderr, "txmail: {}\n", resolver.error().detail);
    return 2;
  }
  int status = 1;
  asio::co_spawn(io, lookup(**resolver), [&](const std::exception_ptr& e, const json::object& out) {
    if (!e) {
      status = out.contains("error") ? 1 : 0;
      fmt::print("{}\n", json::serialize(out));
    }
    (*resolver)->shutdown();
  });
  io.run();
  return status;
}

}  // namespace

int dns_query(const std::vector<std::string>& servers, const std::string& type,
              const std::string& name) {
  dns::RecordType t{};
  if (type == "A") {
    t = dns::RecordType::kA;
  } else if (type == "AAAA") {
    t = dns::RecordType::kAaaa;
  } else if (type == "MX") {
    t = dns::RecordType::kMx;
  } else if (type == "TXT") {
    t = dns::RecordType::kTxt;
  } else if (type == "TLSA") {
    t = dns::RecordType::kTlsa;
  } else {
    fmt::print(stderr, "txmail: unknown record type '{}' (A, AAAA, MX, TXT, TLSA)\n", type);
    return 2;
  }
  return run_lookup(servers, [t, name](dns::Resolver& r) -> awaitable<json::object> {
    auto answer = co_await r.query(name, t);
    co_return answer ? answer_json(*answer) : error_json(answer.error());
  });
}

int dns_mx(const std::vector<std::string>& servers, const std::string& domain) {
  // Given as a U-label or an A-label; looked up as the A-label, shown as both.
  auto ascii = idna::to_ascii(domain);
  if (!ascii) {
    fmt::print(stderr, "txmail: {}: {}\n", domain, ascii.error().detail);
    return 2;
  }
  return run_lookup(servers, [domain = *ascii](dns::Resolver& r) -> awaitable<json::object> {
    auto plan = co_await dns::resolve_mx(r, domain);
    if (!plan) {
      co_return error_json(plan.error());
    }
    json::array hosts;
    for (const auto& host : plan->hosts) {
      auto addrs = co_await dns::resolve_addresses(r, host);
      json::object h{{"host", host}};
      if (const std::string shown = idna::to_unicode(host); shown != host) {
        h["host_unicode"] = shown;
      }
      if (addrs) {
        h["addresses"] = json::array(addrs->begin(), addrs->end());
      } else {
        h["error"] = error_json(addrs.error());
      }
      hosts.push_back(std::move(h));
    }
    co_return json::object{{"domain", domain},
                           {"domain_unicode", idna::to_unicode(domain)},
                           {"implicit", plan->implicit},
                           {"site", plan->site()},
                           {"hosts", std::move(hosts)}};
  });
}

}  // namespace txmail::app
