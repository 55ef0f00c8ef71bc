// The parts of the push notification dispatcher that do no networking (issue hooks-2 split
// them out of webhooks.cc): the state file's schema, the reader that
// turns the next events of the log (read through EventLog, never its storage) into one batch
// per (endpoint, job), the outbox's key of an endpoint, and the signed request of a batch. Used
// by webhooks.cc only. webhook_batches.cc also defines default_retry_schedule() (webhooks.h).
#pragma once

#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <set>
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
  std::int64_t first_seq = 0;  // its first and last events' log seqs: the batch's identity
  std::int64_t last_seq = 0;
};

// A POST to make: one (endpoint, job) batch, a row of the outbox.
struct Batch {
  std::int64_t id = 0;  // its outbox row
  std::string handle;   // cluster: the region queue's handle ("" : a local row)
  Endpoint endpoint;
  std::string account;
  std::string job_id;
  std::string body;
  std::size_t notifications = 0;
  int attempt = 0;  // tries made before this one
};

struct ReadRound {
  std::vector<NewBatch> batches;  // in log order; none when nobody listens for these events
  std::int64_t last_seq = 0;      // the last event read; 0: there was none after `from`
};

// Up to `chunk` events after `from`, grouped with their job's endpoint (the job's own, else its
// account's) into batches of at most `batch_max` notifications. An error when the log cannot
// be read (nothing was consumed: the same events are read next time). `origin`: the node whose
// events (copied here) are read, by their numbers in its log ("" : this node's own).
Result<ReadRound> read_round(EventLog& log, std::int64_t from, std::size_t chunk,
                             std::size_t batch_max, const WebhookDispatcher::Deps& deps,
                             const std::string& origin = "");

// At open: moves the failed batches of a file made before issue hooks-2 to the outbox (logged
// when it cannot), adds the `ack` column to an outbox made before cluster mode, and forgets the
// region's batches a previous run held (the region hands them out again once unsettled).
Result<void> prepare_outbox(Db& state, const WebhookDispatcher::Deps& deps);

// Up to `n` of the lane's batches due at `now` and not in `busy`, oldest first. Rows whose
// endpoint cannot be unsealed are dropped (logged).
Result<std::vector<Batch>> load_due(Db& state, const WebhookDispatcher::Deps& deps,
                                    const std::string& key, const std::set<std::int64_t>& busy,
                                    std::size_t n, std::int64_t now);

// What store_queued did with the batches the region's queue handed over.
struct StoredBatches {
  std::set<std::string> keys;            // the lanes that have new rows
  std::vector<std::string> unreadable;   // handles: the endpoint cannot be unsealed (not stored)
  std::vector<const QueuedBatch*> over;  // their lane holds `lane_cap` rows already (not stored)
};

// Cluster mode (issue site-3 item 2): batches the region's queue handed to this node, stored in
// the outbox as rows that carry their handle, due now, up to `lane_cap` rows per lane.
Result<StoredBatches> store_queued(Db& state, const WebhookDispatcher::Deps& deps,
                                   const std::vector<QueuedBatch>& batches, std::size_t lane_cap);

// The handles of the lane's queued rows not in `busy`, removed from the outbox (the lane is
// paused: they go back to the region).
Result<std::vector<std::string>> take_queued(Db& state, const std::string& key,
                                             const std::set<std::int64_t>& busy);

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
