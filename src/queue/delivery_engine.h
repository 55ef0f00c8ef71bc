// DeliveryEngine: the scheduler and the ready queues (DESIGN.md section 2, steps 6 to 8).
//
// Every queued recipient has a next-attempt time in the scheduled queue (ordered by time).
// When due, the recipients of one job and one domain (a unit, up to max_recipients per
// transaction) are routed: route rule or MX lookup gives the destination site (the set of MX
// hosts), the account's pool gives the egress source, and the unit joins the ready queue of
// that (source, site). Each ready queue opens up to its connection limit, sends at most its
// rate, reuses connections for its next units, and is backed off as a whole when the site
// cannot be reached. Outcomes update the spool (recipient state; the job leaves the spool when
// every recipient is final) and go to the outcome sink (the event log).
//
// Threading: everything runs on one io_context (the engine's), so its state needs no locks;
// submit() may be called from any thread. Spool reads run on the worker pool.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>

#include "common/duration.h"
#include "common/ids.h"
#include "dns/resolver.h"
#include "queue/address_backoff.h"
#include "queue/delivery_options.h"
#include "queue/egress_settings.h"
#include "queue/fifo.h"
#include "queue/gcra.h"
#include "queue/inline_list.h"
#include "queue/queue_view.h"
#include "queue/source_line.h"
#include "store/spool.h"

namespace txmail::queue {

struct Outcome {
  enum class Kind { kDelivered, kDeferred, kBouncedHard, kBouncedSoft } kind = Kind::kDelivered;
  std::string job_id;
  std::string mail_id;
  std::string account;
  std::string recipient;
  std::string sender;
  std::uint32_t attempt = 0;
  std::string remote_host;
  std::string reply;  // what the remote said (or what went wrong), as the event shows it
  // The verdict of the reply table (smtp/client/trouble.h) that decided this outcome, and the
  // reply it judged (none when the peer said nothing, or no peer was asked).
  smtp::Verdict verdict;
  std::optional<smtp::Reply> smtp_reply;
  std::string egress;
  std::string tls;
  std::int64_t received_ms = 0;  // when the job was accepted (delivery latency)
};

using OutcomeSink = std::function<void(const Outcome&)>;
using PoolOf = std::function<std::string(const std::string& account)>;

class DeliveryEngine {
 public:
  DeliveryEngine(asio::io_context& io, DeliveryOptions options, std::string node_name,
                 store::Spool& spool, dns::Resolver& resolver, asio::thread_pool& workers,
                 std::shared_ptr<asio::ssl::context> tls, PoolOf pool_of, OutcomeSink sink);
  ~DeliveryEngine();
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;
  DeliveryEngine(DeliveryEngine&&) = delete;
  DeliveryEngine& operator=(DeliveryEngine&&) = delete;

  // A job just synced to the spool. Any thread. A large message (from kFreshMin, up to
  // kFreshBytes in all) is taken from the record: its first delivery attempt sends it from
  // memory instead of reading it back from the spool.
  void submit(store::SpoolRecord& record);

  // A job found by recovery, added at once: only before the engine's io_context runs, from the
  // thread that starts it. (A million posted copies would cost more memory than the jobs.)
  void restore(const store::SpoolRecord& record) { add_job(record, nullptr); }

  // Jobs taken over from another node's spool (cluster mode), added at run time: their
  // recipients already final are skipped, and no acceptance event is written. Any thread.
  void adopt(std::vector<store::SpoolRecord> records);

  // New egress sources, pools and routes (this site's part); any thread. Jobs routed from
  // now on use them; connections open on an old source finish with it.
  void reconfigure(EgressSettings settings);
  void start();
  // Stops scheduling; connections finish their current transaction. `done` runs on the engine's
  // io_context when every connection has ended, or after 10 s with some still busy (their
  // recipients stay queued in the spool and are sent after the restart: at least once).
  void stop(std::function<void()> done);

  // Units in ready queues waiting for a connection. Any thread.
  std::size_t ready_backlog() const { return ready_backlog_.load(std::memory_order_relaxed); }

  // Those of one account (SMTP inflow control: one account's backlog to a slow destination
  // must not slow another account's intake). Any thread.
  std::size_t ready_backlog(const std::string& account) const;

  // Ready queues (destinations with units, connections or a back-off in force). Any thread.
  std::size_t ready_queues() const { return ready_queues_.load(std::memory_order_relaxed); }

  // Jobs in the queue (not yet final). Any thread.
  std::size_t queued_jobs() const { return queued_jobs_.load(std::memory_order_relaxed); }

  // The operator's view of the queues and actions on them (queue_view.h). Any thread; `done`
  // runs on the engine's io_context. A view walks every scheduled unit, in slices
  // (delivery_view.cc); callers during a walk and within a second after it share its view.
  void view(std::function<void(std::shared_ptr<const QueueView>)> done);
  // `until_ms` 0: until resumed.
  void pause(QueueSelector what, std::int64_t until_ms,
             std::function<void(QueueActionResult)> done);
  void resume(QueueSelector what, std::function<void(QueueActionResult)> done);
  // A backed-off site (or the sites a domain was routed to) is tried again now, and the units
  // waiting in the schedule for it have their next attempt now.
  void retry_now(QueueSelector what, std::function<void(QueueActionResult)> done);

 private:
  // Memory per queued recipient matters: a node holds millions (issue core-2 asks for under
  // 300 bytes each). So a job is keyed by its id's 16 bytes; a recipient keeps its mail id as
  // block and index, its address in one exact allocation, and sits inline when it is the
  // job's only one; account and sender strings are shared by every job that names them; a
  // unit names its job and recipient indexes, and its domain is read from its first recipient.
  struct Recipient {                   // 24 bytes
    std::unique_ptr<char[]> address;   // NUL-terminated
    std::uint32_t next_attempt_s = 0;  // seconds since the epoch (until 2106)
    std::uint32_t block = 0;
    std::uint32_t index = 0;
    std::uint16_t attempts = 0;
    store::RecipientStatus status = store::RecipientStatus::kQueued;

    std::string_view view() const { return address.get(); }
  };

  // What many jobs share: the account, the envelope sender and the transfer flags.
  struct Envelope {
    std::string account;
    std::string sender;
    std::uint32_t flags = 0;
  };

  struct Job {                           // 64 bytes: with its key, one 96-byte allocation per job
    const Envelope* envelope = nullptr;  // in envelopes_
    std::int64_t received_ms = 0;
    std::uint32_t units_in_flight = 0;
    std::uint32_t ready_units = 0;  // of those, in ready queues: its share of account_backlog_
    InlineList<Recipient> recipients;
  };

  // Envelopes shared by jobs, counted; an entry goes with its last job.
  class SharedEnvelopes {
   public:
    const Envelope* acquire(const std::string& account, const std::string& sender,
                            std::uint32_t flags);
    void release(const Envelope* e);

   private:
    static std::string key_of(const std::string& account, const std::string& sender,
                              std::uint32_t flags);

    std::unordered_map<std::string, std::pair<Envelope, std::size_t>> entries_;
  };

  struct Unit {  // 32 bytes
    JobKey job{};
    InlineList<std::uint32_t> recipients;  // indexes into Job::recipients
  };

  static_assert(sizeof(Job) <= 64 && sizeof(Unit) <= 32, "the per-recipient memory budget");

  struct Scheduled {
    std::int64_t due_ms = 0;
    Unit unit;
  };

  struct ReadyQueue;

  // A connection waiting for its queue's next unit. A new unit wakes it to send; another
  // destination waiting for the source's slot wakes it to give the slot back (QUIT).
  struct IdleWait {
    Timer timer;
    ReadyQueue* rq = nullptr;  // whose idle list it is in too
    bool give_back = false;
  };

  // One egress source: its connection slots and the line of ready queues waiting for one.
  struct Source {
    Source(std::size_t capacity, const RetryPolicy& retry)
        : line(capacity, std::max<std::size_t>(capacity / 2, 1)), addresses(retry, now_ms) {}

    SourceLine<ReadyQueue*> line;
    AddressBackoff addresses;     // MX addresses that failed lately from this source
    std::vector<IdleWait*> idle;  // its open connections with nothing to send, oldest first
    std::optional<Gcra> rate;     // [delivery] rate_per_source
  };

  // The units of one (egress source, destination site) waiting for a connection. Exists while
  // it has units, connections or a back-off in force; then it is dropped (issue deliver-2:
  // an idle destination costs nothing).
  struct ReadyQueue {
    std::string key;  // "source|site"; ready_ is keyed by a view of it
    const EgressSource* egress = nullptr;
    Source* source = nullptr;
    smtp::Destination destination;
    DestinationPolicy limits;  // resolved: every field set
    Fifo<Unit> units;
    std::size_t connections = 0;
    bool waiting = false;        // in its source's line
    std::uint32_t pins = 0;      // a caller still uses it: not to be dropped yet
    std::uint32_t failures = 0;  // consecutive site-wide deferrals (trouble.h scope)
    std::int64_t backoff_until_ms = 0;
    smtp::RecipientAnswer last;  // the answer that backed the site off
    Gcra rate;
    std::vector<IdleWait*> idle;       // its open connections waiting for a unit, oldest first
    std::vector<std::string> domains;  // recipient domains routed here (kMaxQueueDomains)
  };

  static constexpr std::size_t kMaxQueueDomains = 8;

  // A paused site or domain (queue_view.h). The units it holds wait here, out of the schedule
  // (no routing, no DNS lookup until it ends), and go back to the schedule, due at once, when it
  // ends. A site pause also remembers the domains of the units it held (at most
  // kMaxPauseDomains): a unit of one of them whose DNS lookup fails is held too.
  struct PauseState {
    std::int64_t since_ms = 0;
    std::int64_t until_ms = 0;  // 0: until resumed
    std::vector<std::string> domains;
    std::vector<Unit> held;

    // Not over yet at `now` (an ended pause waits for end_pauses() to give its units back).
    bool in_force(std::int64_t now) const { return until_ms == 0 || until_ms > now; }
  };

  static constexpr std::size_t kMaxPauseDomains = 1000;

  // Messages handed over at submit, until their job's first round of attempts is over. Only
  // large ones: a small message is read back from the spool's memtable cheaply, while a large
  // one lives in a body segment and would cost a read on the worker pool.
  static constexpr std::size_t kFreshBytes = 64 << 20;
  static constexpr std::size_t kFreshMin = 16 << 10;
  void drop_fresh(const JobKey& job);
  // The job leaves the queue without a spool write or an event: another node delivers it now.
  void forget(const JobKey& job);

  // delivery_engine.cc: intake and scheduling
  void add_job(const store::SpoolRecord& record, std::shared_ptr<const std::string> message);
  static std::vector<store::SpoolRecipient> expand(const std::string& job_id, const Job& job);
  std::string domain_of(const Unit& unit) const;  // "" when the job is gone
  void schedule(Unit unit, std::int64_t due_ms);
  static awaitable<void> scheduler_loop(DeliveryEngine* self);
  static awaitable<void> dispatch(DeliveryEngine* self, Unit unit);
  void route(Unit unit, const std::string& domain, Result<smtp::Destination> dest);
  void routing_done();
  void sweep_ready_queues(std::int64_t now);
  DestinationPolicy policy_for(const std::string& domain) const;
  std::optional<smtp::Route> route_for(const std::string& domain) const;
  const EgressSource& pick_source(const std::string& account);
  void install(EgressSettings settings);  // on io_

  // delivery_worker.cc: connections and their slots
  bool wants_connection(const ReadyQueue& rq) const;
  void maybe_start_worker(ReadyQueue& rq);
  void open_connection(ReadyQueue& rq);
  void serve_line(Source& source);
  void give_back_idle(Source& source);
  void defer_backed_off(ReadyQueue& rq);
  // A verdict of destination site scope: every unit waiting gets it; a deferral backs off.
  void site_verdict(ReadyQueue& rq, const smtp::RecipientAnswer& result, const std::string& remote);
  void connection_ended(ReadyQueue& rq);
  void drop_if_unused(ReadyQueue& rq);
  void ready_added(const Unit& unit);
  void ready_taken(const Unit& unit);
  void release_backlog(const std::string& account, std::size_t units);
  static awaitable<void> worker(DeliveryEngine* self, ReadyQueue* rq);
  // `opening` turns false once the opening phase is over (its slot given back).
  awaitable<void> run_connection(ReadyQueue& rq, bool& opening);
  // Whether the unit may be sent now; when not, it was dealt with (dropped, put back, held).
  bool may_send(ReadyQueue& rq, Unit& unit, const std::string& job_id);
  // True while the connection may carry the next unit (the verdicts' scopes allow it).
  awaitable<bool> deliver_unit(ReadyQueue& rq, smtp::ClientSession& session, Unit unit);
  awaitable<std::vector<smtp::RecipientAnswer>> send_each(smtp::ClientSession& session,
                                                          const Unit& unit, const Job& job,
                                                          const smtp::Outgoing& out) const;
  awaitable<Result<std::shared_ptr<const std::string>>> load(const Unit& unit);
  awaitable<void> pace(ReadyQueue& rq);
  Source& source_state(const std::string& name);

  // delivery_control.cc: the operator's view, pauses and retries
  bool has_pauses() const { return !paused_sites_.empty() || !paused_domains_.empty(); }

  // The pause in force for a unit of `domain` routed to `site` ("": not routed yet), or null.
  PauseState* pause_of(const std::string& domain, const std::string& site);
  // A site pause that held units of `domain` (its DNS lookup failed: the site is unknown).
  PauseState* site_pause_holding(const std::string& domain);
  // Held units of a paused unit's domain or site, without an attempt or an event: true when
  // the unit was paused (and is gone from the caller).
  bool hold_if_paused(Unit& unit, const std::string& site);
  void hold(Unit unit, const std::string& domain, PauseState& pause);
  // Units of a ready queue that a new pause covers are held.
  std::size_t hold_ready();
  // Pauses whose time has come end: their units are due now. The next end, or INT64_MAX.
  std::int64_t end_pauses(std::int64_t now);
  std::size_t release(PauseState& pause);
  // Units in the schedule to one of `domains` are due now; how many.
  static awaitable<std::size_t> bring_forward(DeliveryEngine* self,
                                              std::vector<std::string> domains);
  // Ends the back-off of the ready queues of `site` (all sources); how many; found: any queue.
  void clear_backoff(const std::string& site, QueueActionResult& r,
                     std::vector<std::string>& domains);
  static awaitable<void> retry(DeliveryEngine* self, QueueSelector what,
                               std::function<void(QueueActionResult)> done);

  // delivery_view.cc: the operator's view, taken kViewSlice scheduled units a turn
  struct ViewWalk;
  static constexpr std::size_t kViewSlice = 20'000;
  void view_step(const std::shared_ptr<ViewWalk>& walk);
  void view_count(ViewWalk& walk, const Unit& unit, std::optional<std::int64_t> due_ms) const;

  // A pause, resume or retry changed the queues: the cached view (and one being taken) is stale.
  void view_changed() {
    view_cache_.reset();
    ++view_actions_;
  }

  void view_finish(ViewWalk& walk);
  void view_destinations(QueueView& v) const;

  // delivery_sandbox.cc: the units of sandbox accounts go to the capture store instead
  bool sandboxed(const Unit& unit) const;
  awaitable<void> capture_unit(Unit unit);
  awaitable<Result<void>> store_captured(std::vector<store::CapturedMessage> captured);

  // delivery_outcome.cc: results
  // Every recipient of the unit gets `result`.
  void settle_unit(const Unit& unit, const smtp::RecipientAnswer& result,
                   const std::string& remote);
  // No SMTP answer decided these (DNS, the spool): deferred or bounced with `why`.
  void defer_unit(const Unit& unit, const std::string& remote, const std::string& why);
  void bounce_unit(const Unit& unit, const std::string& why);
  // What a unit waiting for a backed-off site gets: the site's last answer.
  smtp::RecipientAnswer backed_off(const ReadyQueue& rq) const;
  void record(const Unit& unit, std::uint32_t index, const smtp::RecipientAnswer& result,
              const std::string& remote, const std::string& egress, const std::string& tls,
              Unit& retry);
  void finish_unit(const Unit& unit, Unit retry);

  asio::io_context& io_;
  DeliveryOptions options_;
  std::string node_name_;
  store::Spool& spool_;
  dns::Resolver& resolver_;
  asio::thread_pool& workers_;
  std::shared_ptr<asio::ssl::context> tls_;
  PoolOf pool_of_;
  OutcomeSink sink_;

  std::unordered_map<JobKey, Job, JobKeyHash> jobs_;
  SharedEnvelopes envelopes_;
  std::unordered_map<JobKey, std::shared_ptr<const std::string>, JobKeyHash> fresh_;
  std::size_t fresh_bytes_ = 0;
  // A min-heap by due time. A deque, not a vector: no doubling slack with a million entries.
  std::deque<Scheduled> scheduled_;
  std::size_t heap_walks_ = 0;  // bring_forward walks under way: the scheduler pops nothing
  Timer wake_;
  Timer stop_timer_;
  std::unordered_map<std::string_view, std::unique_ptr<ReadyQueue>> ready_;
  std::unordered_map<std::string, Source> sources_;
  std::int64_t last_sweep_ms_ = 0;
  // Units being routed (MX and address lookups) right now: at most [delivery]
  // max_dns_lookups; the scheduler takes no more due units while it is reached.
  std::size_t routing_ = 0;
  std::unordered_map<std::string, std::size_t> pool_cursor_;
  std::deque<EgressSource> egress_objects_;  // every source ever installed (stable addresses)
  std::vector<const EgressSource*> sources_now_;
  std::map<std::string, std::vector<std::string>> pools_;
  std::vector<RouteRule> routes_;
  std::size_t connections_ = 0;
  std::atomic<std::size_t> ready_backlog_{0};
  mutable std::mutex backlog_mutex_;
  std::unordered_map<std::string, std::size_t> account_backlog_;  // under backlog_mutex_
  std::atomic<std::size_t> ready_queues_{0};
  std::atomic<std::size_t> queued_jobs_{0};
  std::map<std::string, PauseState> paused_sites_;
  std::map<std::string, PauseState> paused_domains_;
  std::shared_ptr<const QueueView> view_cache_;
  std::shared_ptr<ViewWalk> view_walk_;  // the view being taken, or null
  std::uint64_t view_actions_ = 0;       // view_changed() calls
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::mt19937_64 rng_{std::random_device{}()};
};

// The domain of a recipient address in its canonical (A-label) form: the key of units, routes,
// policies, pauses and the MX lookup.
std::string recipient_domain(std::string_view address);

// Rebuilds the schedule from the spool: every job goes back to delivery with its recipients'
// states (delivered ones are never sent again). Before the I/O threads start.
void recover_from_spool(store::Spool& spool, DeliveryEngine& delivery);

}  // namespace txmail::queue
