// AddressBackoff: the delivery engine's memory of MX addresses (smtp::AddressHealth). One
// address often serves thousands of domains (a hosting provider's MX); when it times out or
// refuses, every destination naming it would otherwise pay the same timeout in turn, holding
// connection slots meanwhile (issue deliver-2: 500 hanging domains behind one address). After a
// failure the address is skipped for the retry delay of its consecutive failures (the same
// schedule as a destination site's back-off); a success clears it. Entries go when their
// back-off has ended (sweep). Single-threaded: the engine's io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "queue/retry_policy.h"
#include "smtp/client/mx_walk.h"

namespace txmail::queue {

class AddressBackoff final : public smtp::AddressHealth {
 public:
  using Now = std::function<std::int64_t()>;  // milliseconds since the epoch

  AddressBackoff(RetryPolicy retry, Now now) : retry_(std::move(retry)), now_(std::move(now)) {}

  std::optional<std::string> backed_off(const smtp::Peer& peer) override;
  void failed(const smtp::Peer& peer, const std::string& why) override;
  void succeeded(const smtp::Peer& peer) override;

  // The operator asked for a retry now: the address is tried again at once.
  void forgive(const smtp::Peer& peer) { entries_.erase(key_of(peer)); }

  // Drops entries whose back-off has ended.
  void sweep();

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::int64_t until_ms = 0;
    std::uint32_t failures = 0;
    std::string why;
  };

  static std::string key_of(const smtp::Peer& peer);

  RetryPolicy retry_;
  Now now_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace txmail::queue
