// Server-wide limits a stranger could otherwise exhaust: connections in total and per client
// IP. Shared by every io thread. (Failed authentications are limited by
// net::AuthFailureLimiter, which the HTTP API shares.)
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "smtp/server/options.h"

namespace txmail::smtp {

class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(const ServerOptions& options) : options_(options) {}

  // Takes a slot for `ip`, or returns false when a limit is reached.
  bool acquire(const std::string& ip);
  void release(const std::string& ip);
  std::size_t total() const;

 private:
  const ServerOptions& options_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

}  // namespace txmail::smtp
