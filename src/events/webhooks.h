// The push notification dispatcher (issue core-5, item 4).
//
// It reads the event log in order (its position is durable, in <data_dir>/webhooks.db), finds
// each event's endpoint (the job's own, else the account's default), and POSTs one JSON batch
// per (endpoint, job): {"meta": {...}, "notifications": [...]}. Each POST carries
// X-Txmail-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body"> under the account's secret,
// the endpoint's Basic credentials and headers. 2xx is done; 301-308 and 400-406 are not
// retried (counted as failures); anything else, and network errors, are stored and retried on
// a schedule with ±25% jitter (default 15 tries: about 2 minutes apart, then about 8), then
// kept as dead letters until replayed. The position moves only once every batch of a chunk is
// delivered, refused or stored for retry: after a crash every event is sent at least once.
//
// Connections are bound to [notifications] source_address; targets on loopback, private or
// link-local addresses are refused unless allow_private_targets. TLS verifies the certificate
// and the host name. Each endpoint gets at most `per_endpoint` connections at once, HTTP/1.1
// keep-alive within a chunk. Runs on threads of its own; never on an I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event.h"

struct sqlite3;

namespace txmail::events {

struct WebhookOptions {
  std::string source_address;  // "" : the system's choice
  bool allow_private_targets = false;
  std::vector<std::chrono::milliseconds> retry_schedule;  // empty: the default 15 tries
  std::size_t chunk = 2000;       // events read per round
  std::size_t batch_max = 500;    // notifications per POST
  std::size_t per_endpoint = 4;   // connections at once per endpoint
  std::size_t threads = 8;        // senders
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  std::chrono::milliseconds poll = std::chrono::milliseconds(100);
};

// 7 tries about 2 minutes apart, then 8 about 8 minutes apart (before jitter).
std::vector<std::chrono::milliseconds> default_retry_schedule();

struct DeadLetter {
  std::int64_t id = 0;
  std::string account;
  std::string job_id;
  std::string url;
  int attempts = 0;
  std::string last_error;
  std::int64_t created_ms = 0;
  std::size_t notifications = 0;
};

struct WebhookStats {
  std::uint64_t posts = 0;       // batches delivered (2xx)
  std::uint64_t delivered = 0;   // notifications in them
  std::uint64_t refused = 0;     // batches answered 301-308 / 400-406, or a refused target
  std::uint64_t failures = 0;    // attempts that will be retried
  std::uint64_t dead = 0;        // batches that ran out of tries
  std::uint64_t retry_backlog = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t lag = 0;         // events in the log not yet dispatched (at the latest round)
};

class WebhookDispatcher {
 public:
  struct Deps {
    std::string events_db;    // the event log's SQLite file (read)
    std::string state_db;     // position, retries and dead letters (written)
    std::function<std::optional<Endpoint>(const std::string& account)> account_endpoint;
    std::function<std::string(const std::string& account)> secret_of;
    std::function<std::string(const std::string& plain, const std::string& context)> seal;
    std::function<Result<std::string>(const std::string& sealed, const std::string& context)> open;
  };

  static Result<std::unique_ptr<WebhookDispatcher>> open(Deps deps, WebhookOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;
  WebhookDispatcher(WebhookDispatcher&&) = delete;
  WebhookDispatcher& operator=(WebhookDispatcher&&) = delete;

  void start();
  void stop();  // finishes the round in progress

  // The account's dead letters ("" : every account's), oldest first.
  Result<std::vector<DeadLetter>> dead_letters(const std::string& account, std::size_t limit);
  // Moves the account's dead letters ("" : all) back to the retry queue, due now; how many.
  Result<std::size_t> replay(const std::string& account);

  WebhookStats stats();

 private:
  struct Impl;
  explicit WebhookDispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether a target address is loopback, private, link-local, unspecified or multicast.
bool private_address(const std::string& ip);

}  // namespace txmail::events
