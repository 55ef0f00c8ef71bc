#include "queue/address_backoff.h"

#include <fmt/format.h>

#include <vector>

namespace txmail::queue {

std::string AddressBackoff::key_of(const smtp::Peer& peer) {
  return fmt::format("{}|{}", peer.address, peer.port);
}

std::optional<std::string> AddressBackoff::backed_off(const smtp::Peer& peer) {
  const auto it = entries_.find(key_of(peer));
  if (it == entries_.end() || it->second.until_ms <= now_()) {
    return std::nullopt;
  }
  return it->second.why;
}

void AddressBackoff::failed(const smtp::Peer& peer, const std::string& why) {
  Entry& e = entries_[key_of(peer)];
  if (e.until_ms > now_()) {
    return;  // connections that were already on their way fail too: one outage, one count
  }
  ++e.failures;
  e.until_ms = now_() + retry_.delay(e.failures, 0.5).count();
  e.why = why;
}

void AddressBackoff::succeeded(const smtp::Peer& peer) {
  entries_.erase(key_of(peer));
}

void AddressBackoff::sweep() {
  const std::int64_t now = now_();
  std::erase_if(entries_, [now](const auto& e) { return e.second.until_ms <= now; });
}

}  // namespace txmail::queue
