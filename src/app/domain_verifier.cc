#include "app/domain_verifier.h"

#include <map>

#include "common/duration.h"
#include "common/log.h"

namespace txmail::app {

namespace {

constexpr std::int64_t kRecheckVerifiedMs = 24LL * 3600 * 1000;

// Whether a domain has anything a lookup could change now.
bool needs_check(const tenancy::SenderDomain& d, std::int64_t now) {
  if (!d.verified || now - d.checked_ms >= kRecheckVerifiedMs) {
    return true;
  }
  for (const auto& k : d.keys) {
    if (k.state == tenancy::KeyState::kPending
        || (k.state == tenancy::KeyState::kRetired && k.retire_at_ms <= now)) {
      return true;
    }
  }
  return false;
}

}  // namespace

awaitable<Result<tenancy::TxtAnswers>> lookup_records(dns::Resolver& resolver,
                                                      const std::vector<std::string>& names) {
  tenancy::TxtAnswers found;
  for (const auto& name : names) {
    // (No conditional expression in the co_await: GCC 12 mishandles its temporaries.)
    std::string query = name;
    dns::RecordType type = dns::RecordType::kTxt;
    if (name.starts_with(tenancy::kMxQuery)) {
      query = name.substr(tenancy::kMxQuery.size());
      type = dns::RecordType::kMx;
    }
    auto answer = co_await resolver.query(std::move(query), type);
    if (!answer) {
      if (answer.error().code != ErrorCode::kNotFound) {
        co_return tl::unexpected(answer.error());
      }
      found[name] = {};
      continue;
    }
    auto& values = found[name];
    values = answer->values;
    for (const auto& m : answer->mx) {
      values.push_back(m.exchange);
    }
  }
  co_return found;
}

void DomainVerifier::start() {
  spawn_essential(
      io_.get_executor(), "the domain verifier", [this] { return loop(this); },
      [this] { return stopping_; });
}

void DomainVerifier::stop() {
  stopping_ = true;
  timer_.cancel();
}

awaitable<void> DomainVerifier::loop(DomainVerifier* self) {
  while (!self->stopping_) {
    self->timer_.expires_after(self->interval_);
    co_await self->timer_.async_wait(use_tuple);
    if (self->stopping_) {
      break;
    }
    // The store may block on disk: read it on the worker pool.
    auto starter = [self](std::function<void(Result<std::vector<tenancy::SenderDomain>>)> done) {
      asio::post(self->workers_, [self, done = std::move(done)] { done(self->service_.list("")); });
    };
    auto domains =
        co_await await_callback<Result<std::vector<tenancy::SenderDomain>>>(std::move(starter));
    if (!domains) {
      logger()->error("domain verifier: {}", domains.error().detail);
      continue;
    }
    const std::int64_t now = now_ms();
    for (auto& d : *domains) {
      if (self->stopping_) {
        break;
      }
      if (needs_check(d, now)) {
        co_await self->check(std::move(d));
      }
    }
  }
}

awaitable<void> DomainVerifier::check(tenancy::SenderDomain domain) {
  auto answers =
      co_await lookup_records(resolver_, tenancy::names_to_verify(domain, service_.settings()));
  if (!answers) {
    logger()->info("domain verifier: {} not checked: {}", domain.name, answers.error().detail);
    co_return;  // a temporary failure concludes nothing
  }
  const tenancy::TxtAnswers found = std::move(*answers);
  const bool was_verified = domain.verified;
  auto starter = [this, &domain, &found](std::function<void(Result<tenancy::SenderDomain>)> done) {
    asio::post(workers_, [this, &domain, &found, done = std::move(done)] {
      done(service_.verify(domain.name, "", tenancy::lookup_in(found)));
    });
  };
  auto verified = co_await await_callback<Result<tenancy::SenderDomain>>(std::move(starter));
  if (!verified) {
    logger()->error("domain verifier: {}: {}", domain.name, verified.error().detail);
    co_return;
  }
  for (const auto& k : verified->keys) {
    const auto before = std::find_if(domain.keys.begin(), domain.keys.end(),
                                     [&](const auto& old) { return old.selector == k.selector; });
    if (before != domain.keys.end() && before->state != k.state) {
      logger()->info("domain={} selector={} is now {}", domain.name, k.selector,
                     tenancy::state_name(k.state));
    }
  }
  if (verified->verified != was_verified) {
    logger()->info("domain={} is now {}", domain.name,
                   verified->verified ? "verified" : "NOT verified (its records changed)");
  }
  logger()->debug("domain verifier: checked domain={} verified={}", domain.name,
                  verified->verified);
}

}  // namespace txmail::app
