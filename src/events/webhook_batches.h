// The parts of the push notification dispatcher that do no networking (issue hooks-2 split
// them out of webhooks.cc): the state file's schema, the reader that
// turns the next events of the log (read through EventLog, never its storage) into one batch
// per (endpoint, job), the outbox's key of an endpoint, and the signed request of a batch. Used
// by webhooks.cc only. webhook_batches.cc also defines default_retry_schedule() (webhooks.h).
#pragma once

#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "events/webhooks.h"
#include "net/http_url.h"
#include "store/sqlite.h"

namespace txmail::events::webhook {

using store::sqlite::Db;
using store::sqlite::Statement;
using store::sqlite::Transaction;

// The tables of webhooks.db (opened in WAL mode, synchronous=FULL).
extern const char* const kStateSchema;

// A batch the reader made: one (endpoint, job) and its notifications' JSON body.
struct NewBatch {
  Endpoint endpoint;
  std::string account;
  std::string job_id;
  std::string body;
  std::size_t notifications = 0;
};

struct ReadRound {
  std::vector<NewBatch> batches;  // in log order; none when nobody listens for these events
  std::int64_t last_seq = 0;      // the last event read; 0: there was none after `from`
};

// Up to `chunk` events after `from`, grouped with their job's endpoint (the job's own, else its
// account's) into batches of at most `batch_max` notifications. An error when the log cannot
// be read (nothing was consumed: the same events are read next time).
Result<ReadRound> read_round(EventLog& log, std::int64_t from, std::size_t chunk,
                             std::size_t batch_max, const WebhookDispatcher::Deps& deps);

// The outbox and the lanes know an endpoint by a digest of its URL (the URL itself may hold a
// token, and is stored sealed with the rest of the endpoint).
std::string endpoint_key(const std::string& url);

// The POST of a batch: signed with the account's secret, with the endpoint's credentials and
// headers (never in place of the signature or the framing).
boost::beast::http::request<boost::beast::http::string_body> request_for(const Endpoint& endpoint,
                                                                         const std::string& body,
                                                                         const std::string& secret,
                                                                         const net::HttpUrl& url);

// Moves rows of `table` ("retries" as they are, "dead" afresh) into the outbox, keyed by their
// endpoint; `where` selects them with one text parameter. Inside the caller's transaction: on
// an error the caller rolls back, and nothing has moved. How many.
Result<std::size_t> move_to_outbox(Db& state, const WebhookDispatcher::Deps& deps,
                                   const std::string& table, const std::string& where,
                                   const std::string& param);

// The account's dead letters ("" : every account's), oldest first.
Result<std::vector<DeadLetter>> list_dead(Db& state, const WebhookDispatcher::Deps& deps,
                                          const std::string& account, std::size_t limit);

// Moves the account's dead letters ("" : all) to the outbox, due now, in one transaction:
// every one of them, or (on any error, rolled back) none. How many.
Result<std::size_t> replay_dead(Db& state, const WebhookDispatcher::Deps& deps,
                                const std::string& account);

}  // namespace txmail::events::webhook
