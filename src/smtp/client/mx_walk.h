// The MX walk: from a domain (or a configured route) to an open ClientSession. Hosts are
// tried in MX order and each host's addresses in turn while the verdict on the failure says
// next_mx (trouble.h: a refused connection, a timeout, a 4xx/5xx greeting ...). An
// opportunistic TLS handshake that fails is retried once on the same host in clear text (never
// under required or verify).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.h"
#include "smtp/client/client_session.h"

namespace txmail::smtp {

struct Route {
  std::string host;  // IP or name
  std::uint16_t port = 25;
};

struct Destination {
  std::vector<Peer> peers;  // in the order to try
  std::string site;         // destination site: the set of MX hosts (or the route)
};

// Where mail for `domain` goes: the route when given, else its MX hosts and their addresses.
awaitable<Result<Destination>> resolve_destination(dns::Resolver& resolver,
                                                   const std::string& domain,
                                                   const std::optional<Route>& route,
                                                   std::uint16_t mx_port = 25);

// What the caller remembers of MX addresses across destinations: one address often serves many
// domains (a hosting provider), so an address that just timed out or refused is skipped for a
// while without a connection, whichever domain names it. Called on the walk's executor.
class AddressHealth {
 public:
  AddressHealth() = default;
  AddressHealth(const AddressHealth&) = delete;
  AddressHealth& operator=(const AddressHealth&) = delete;
  AddressHealth(AddressHealth&&) = delete;
  AddressHealth& operator=(AddressHealth&&) = delete;
  virtual ~AddressHealth() = default;

  // Why `peer` is not to be tried now; nullopt: try it.
  virtual std::optional<std::string> backed_off(const Peer& peer) = 0;
  virtual void failed(const Peer& peer, const std::string& why) = 0;
  virtual void succeeded(const Peer& peer) = 0;
};

// Takes its arguments by value: the caller's destination may be replaced (a fresher MX answer)
// while this coroutine walks it. `health` (may be null) outlives the walk.
awaitable<ClientSession::Opened> open_first(asio::any_io_executor executor, Destination dest,
                                            ClientOptions options,
                                            std::shared_ptr<asio::ssl::context> tls,
                                            AddressHealth* health = nullptr);

}  // namespace txmail::smtp
