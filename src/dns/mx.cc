#include "dns/mx.h"

#include <algorithm>
#include <random>
#include <set>

namespace txmail::dns {

std::string MxPlan::site() const {
  std::set<std::string> sorted(hosts.begin(), hosts.end());
  std::string out;
  for (const auto& h : sorted) {
    if (!out.empty()) {
      out.push_back(',');
    }
    out += h;
  }
  return out;
}

Result<MxPlan> plan_mx(const std::string& domain, const Answer& mx_answer,
                       const std::function<std::uint64_t()>& random) {
  MxPlan plan;
  plan.ttl = mx_answer.ttl;
  if (mx_answer.mx.empty()) {
    plan.implicit = true;
    plan.hosts.push_back(normalize_name(domain));
    return plan;
  }
  std::vector<MxRecord> records;
  bool null_mx = false;
  for (const auto& mx : mx_answer.mx) {
    if (mx.exchange.empty()) {
      null_mx = true;  // RFC 7505: "." as the exchange means the domain takes no mail
    } else {
      records.push_back(mx);
    }
  }
  if (records.empty() && null_mx) {
    return make_error(ErrorCode::kNotFound,
                      domain + ": domain does not accept mail (null MX, RFC 7505)");
  }
  // Shuffle first, then a stable sort by preference: equal preferences stay shuffled.
  for (std::size_t i = records.size(); i > 1; --i) {
    std::swap(records[i - 1], records[random() % i]);
  }
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  for (const auto& r : records) {
    if (std::find(plan.hosts.begin(), plan.hosts.end(), r.exchange) == plan.hosts.end()) {
      plan.hosts.push_back(r.exchange);
    }
  }
  return plan;
}

awaitable<Result<MxPlan>> resolve_mx(Resolver& resolver, std::string domain) {
  auto answer = co_await resolver.query(domain, RecordType::kMx);
  if (!answer) {
    co_return tl::unexpected(answer.error());
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  co_return plan_mx(domain, *answer, [] { return rng(); });
}

awaitable<Result<std::vector<std::string>>> resolve_addresses(Resolver& resolver,
                                                              std::string host) {
  std::vector<std::string> out;
  auto a = co_await resolver.query(host, RecordType::kA);
  if (!a && a.error().code == ErrorCode::kDnsTemporary) {
    co_return tl::unexpected(a.error());
  }
  if (a) {
    out = a->values;
  }
  auto aaaa = co_await resolver.query(host, RecordType::kAaaa);
  if (!aaaa && aaaa.error().code == ErrorCode::kDnsTemporary && out.empty()) {
    co_return tl::unexpected(aaaa.error());
  }
  if (aaaa) {
    out.insert(out.end(), aaaa->values.begin(), aaaa->values.end());
  }
  if (out.empty()) {
    co_return make_error(ErrorCode::kNotFound, host + ": no address (A or AAAA)");
  }
  co_return out;
}

}  // namespace txmail::dns
