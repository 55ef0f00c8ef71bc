// DomainVerifier: re-verifies sender domains in the background (issue core-3, item 4), so a
// rotation completes without anyone running `txmail domain verify`: a pending key becomes
// active once its record is published, a retired key leaves after its grace period, and a
// verified domain is checked again daily (a domain whose records were removed loses
// `verified`). Runs every [dkim] verify_interval on the given io_context; lookups through the
// resolver, store writes on the worker pool. In a cluster every node may do it: the writes are
// compare-and-set, and the outcome is the same.
#pragma once

#include <chrono>

#include "dns/resolver.h"
#include "net/asio.h"
#include "tenancy/domain_service.h"

namespace txmail::app {

// The answers for tenancy::names_to_verify(): TXT strings per name, and for an "MX <name>"
// entry the exchanges' host names. A name without records has an empty list; a temporary DNS
// failure is an error (verification then concludes nothing).
awaitable<Result<tenancy::TxtAnswers>> lookup_records(dns::Resolver& resolver,
                                                      const std::vector<std::string>& names);

class DomainVerifier {
 public:
  DomainVerifier(asio::io_context& io, asio::thread_pool& workers, tenancy::DomainService& service,
                 dns::Resolver& resolver, std::chrono::milliseconds interval)
      : io_(io),
        workers_(workers),
        service_(service),
        resolver_(resolver),
        interval_(interval),
        timer_(io) {}

  void start();
  void stop();  // from the io_context's thread or before it runs

 private:
  static awaitable<void> loop(DomainVerifier* self);
  awaitable<void> check(tenancy::SenderDomain domain);

  asio::io_context& io_;
  asio::thread_pool& workers_;
  tenancy::DomainService& service_;
  dns::Resolver& resolver_;
  std::chrono::milliseconds interval_;
  asio::steady_timer timer_;
  bool stopping_ = false;
};

}  // namespace txmail::app
