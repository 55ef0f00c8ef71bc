#include "smtp/client/mx_walk.h"

#include <fmt/format.h>

#include "common/log.h"
#include "dns/mx.h"

namespace txmail::smtp {

awaitable<Result<Destination>> resolve_destination(dns::Resolver& resolver,
                                                   const std::string& domain,
                                                   const std::optional<Route>& route,
                                                   std::uint16_t mx_port) {
  Destination dest;
  if (route) {
    boost::system::error_code ec;
    asio::ip::make_address(route->host, ec);
    std::vector<std::string> addresses{route->host};
    if (ec) {
      auto resolved = co_await dns::resolve_addresses(resolver, route->host);
      if (!resolved) {
        co_return tl::unexpected(resolved.error());
      }
      addresses = *resolved;
    }
    for (const auto& a : addresses) {
      dest.peers.push_back(Peer{route->host, a, route->port});
    }
    dest.site = "route:" + route->host + ":" + std::to_string(route->port);
    co_return dest;
  }
  auto plan = co_await dns::resolve_mx(resolver, domain);
  if (!plan) {
    co_return tl::unexpected(plan.error());
  }
  // When no host has an address, the domain is undeliverable only if every host has none for
  // good; one temporary failure (SERVFAIL, a timeout) makes it a deferral, whatever the order
  // the hosts were looked up in.
  Error last{ErrorCode::kNotFound, domain + ": no MX host has an address"};
  for (const auto& host : plan->hosts) {
    auto addresses = co_await dns::resolve_addresses(resolver, host);
    if (!addresses) {
      if (last.code == ErrorCode::kNotFound) {
        last = addresses.error();
      }
      continue;
    }
    for (const auto& a : *addresses) {
      dest.peers.push_back(Peer{host, a, mx_port});
    }
  }
  if (dest.peers.empty()) {
    co_return tl::unexpected(last);
  }
  dest.site = plan->site();
  co_return dest;
}

awaitable<ClientSession::Opened> open_first(asio::any_io_executor executor, Destination dest,
                                            ClientOptions options,
                                            std::shared_ptr<asio::ssl::context> tls,
                                            AddressHealth* health) {
  ClientSession::Opened last;
  last.failure.verdict = classify_failure(Stage::kConnect);
  last.failure.detail = "no host to connect to";
  for (const auto& peer : dest.peers) {
    if (health != nullptr) {
      if (auto why = health->backed_off(peer)) {
        last = ClientSession::Opened{};
        last.failure.verdict = classify_failure(Stage::kConnect);
        last.failure.detail =
            fmt::format("{} [{}] not tried: it failed lately: {}", peer.host, peer.address, *why);
        continue;
      }
    }
    auto opened = co_await ClientSession::open(executor, peer, options, tls);
    if (!opened.session && opened.tls_failed && options.tls == TlsMode::kOpportunistic) {
      logger()->info("delivery host={} addr={} tls failed, retrying in clear text: {}", peer.host,
                     peer.address, opened.failure.detail);
      ClientOptions plain = options;
      plain.tls = TlsMode::kDisabled;
      opened = co_await ClientSession::open(executor, peer, plain, tls);
    }
    if (opened.session) {
      if (health != nullptr) {
        health->succeeded(peer);
      }
      co_return opened;
    }
    logger()->info("delivery host={} addr={} port={} unusable: {}", peer.host, peer.address,
                   peer.port, opened.failure.detail);
    // Only a host that cannot take mail now is skipped by later walks; one that refused us
    // (an EHLO 5xx) answers, and is asked again.
    if (health != nullptr && !opened.tls_failed && opened.failure.verdict.next_mx) {
      health->failed(peer, opened.failure.detail);
    }
    if (!opened.failure.verdict.next_mx) {
      co_return opened;  // the table says the next host would not do better (an EHLO 5xx)
    }
    last = std::move(opened);
  }
  co_return last;
}

}  // namespace txmail::smtp
